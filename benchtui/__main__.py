from benchtui.cli import main

main()
