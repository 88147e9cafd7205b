#!/usr/bin/env bash
# Writes offline.html: the page template of `dvc plots show` with Vega, Vega-Lite and vega-embed inline, taken from
# their npm packages at pinned versions, so the page renders without a network (DVC's own template loads them from
# a CDN). .dvc/config points DVC at it (plots.html_template). Run `make plots-template` after changing a version.
set -euo pipefail
VEGA=5.33.1 VEGA_LITE=5.23.0 VEGA_EMBED=6.29.0   # the major versions dvc-render's specs are written for
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack -q "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" >/dev/null
for pkg in "vega-$VEGA" "vega-lite-$VEGA_LITE" "vega-embed-$VEGA_EMBED"; do
  mkdir "${pkg%-*}" && tar xzf "$pkg.tgz" -C "${pkg%-*}"
done
{
  printf '<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n{refresh_tag}\n<title>mcdropout: DVC plots</title>\n'
  printf '<!-- vega %s, vega-lite %s, vega-embed %s, from npm (.dvc/plots/make_offline.sh) -->\n' \
    "$VEGA" "$VEGA_LITE" "$VEGA_EMBED"
  for js in vega/package/build/vega.min.js vega-lite/package/build/vega-lite.min.js \
            vega-embed/package/build/vega-embed.min.js; do
    printf '<script type="text/javascript">\n'
    cat "$js"
    printf '\n</script>\n'
  done
  printf '<style>body { font-family: sans-serif; } table { border-spacing: 15px; }</style>\n</head>\n<body>\n'
  printf '{plot_divs}\n</body>\n</html>\n'
} > "$here/offline.html.tmp"
mv "$here/offline.html.tmp" "$here/offline.html"
echo "wrote $here/offline.html"
