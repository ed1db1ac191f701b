"""Compact, faithful records: what a clinician or an agent needs from each resource, and nothing else.

`specs` holds one declarative field list per resource type; `datatypes` and `elements` the renderers they use;
`terminology` the code systems whose codes are kept; `text` the one-line-per-record text for the model.
"""

from .datatypes import UNTRUSTED
from .specs import SPECS, compact
from .text import FieldTexts, as_json, field_texts, inline, item_lines, page_text, record_line

__all__ = ["SPECS", "UNTRUSTED", "FieldTexts", "as_json", "compact", "field_texts", "inline", "item_lines", "page_text",
           "record_line"]
