"""hepfm event data: schema, ragged blocks, HDF5 shards, validation, streaming loader,
splits and OmniLearned import/export. See ``docs/internals.md`` for the file layout."""

from hepfm.data.dataset import EventLoader, collate_block, pad_block
from hepfm.data.events import EventBlock
from hepfm.data.io import EventFile, EventWriter, open_events, read_all, write_events
from hepfm.data.omnilearned import export_omnilearned, import_omnilearned
from hepfm.data.schema import EventSchema, LabelSpec
from hepfm.data.split import split_events
from hepfm.data.validate import summarize, validate_file

__all__ = [
    "EventBlock",
    "EventFile",
    "EventLoader",
    "EventSchema",
    "EventWriter",
    "LabelSpec",
    "collate_block",
    "export_omnilearned",
    "import_omnilearned",
    "open_events",
    "pad_block",
    "read_all",
    "split_events",
    "summarize",
    "validate_file",
    "write_events",
]
