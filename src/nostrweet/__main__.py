from nostrweet.cli.app import run

run()
