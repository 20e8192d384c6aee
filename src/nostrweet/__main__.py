from nostrweet.cli.app import main

main()
