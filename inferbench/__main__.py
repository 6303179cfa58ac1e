import sys
from inferbench.commands import main

sys.exit(main())
