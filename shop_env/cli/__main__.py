"""``python -m shop_env.cli`` runs the ``shop-r1`` command."""
import sys

from shop_env.cli import main

sys.exit(main())
