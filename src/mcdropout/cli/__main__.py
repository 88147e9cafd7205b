from mcdropout.cli import main

main()
