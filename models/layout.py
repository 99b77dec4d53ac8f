"""How a database lays out its data: fixed when it is first opened, read back ever after."""

from beanie import Document
from pydantic import Field

# The one layout document's `_id`.
CHAT_BUCKETS_LAYOUT = "chat_buckets"


class StorageLayout(Document):
    """The bucket size a database was made with.

    A record with id `n` lives in bucket `n // bucket_size`; a process that used another size
    on the same data would write records where no read finds them, so the size is stored with
    the data and every later process takes it from here, whatever its settings say.
    """

    id: str = Field(alias="_id")
    bucket_size: int = Field(ge=1)

    class Settings:
        name = "storage_layout"
