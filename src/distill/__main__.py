from distill.cli.main import main

main()
