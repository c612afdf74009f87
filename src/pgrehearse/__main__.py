from pgrehearse.cli import main

main()
