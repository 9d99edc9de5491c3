from cpoms_kit.cli import main

main()
