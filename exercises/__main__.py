"""`python -m exercises [ROOT]`: check the catalog and print every problem."""

from exercises.catalog import main

raise SystemExit(main())
