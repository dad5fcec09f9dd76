from sopgit.cli import main

main()
