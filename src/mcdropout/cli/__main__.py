from mcdropout.cli import run

run()
