from seedlock.cli import main

main()
