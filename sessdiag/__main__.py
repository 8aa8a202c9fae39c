from sessdiag.cli import main

main()
