from woollama.cli import main

raise SystemExit(main())
