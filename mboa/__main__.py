from mboa.cli import main

main()
