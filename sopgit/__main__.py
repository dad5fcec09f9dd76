from sopgit.cli.main import main

main()
