from mribench.cli import main

raise SystemExit(main())
