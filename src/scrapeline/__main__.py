from scrapeline.cli.main import main

main()
