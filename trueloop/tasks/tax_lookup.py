"""Registers `tax_lookup`: the `tax` environment with its rule sheet behind the `lookup_table`
tool instead of in the prompt (`trueloop.tasks.tax.TaxLookup`). From a config:

    [task]
    name = "tax_lookup"
    module = "trueloop.tasks.tax_lookup"
"""

from __future__ import annotations

from trueloop.tasks import register
from trueloop.tasks.tax import TaxLookup

register("tax_lookup", TaxLookup)
