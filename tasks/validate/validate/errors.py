"""Named errors of the validate task; the class name is the ASL error name that Catch matches.

Exception
 ├── RejectedUpload          the upload's fault: the definition quarantines it
 │    ├── ObjectNotFound     the object (version) is gone by the time we look
 │    ├── EmptyObject        zero bytes
 │    ├── ObjectTooLarge     over the limit for any upload
 │    ├── ImageTooLarge      an image over the (smaller) image byte limit
 │    ├── UnsupportedMediaType   magic bytes match no type we handle (a zip named .jpg)
 │    └── InvalidMetadata    user metadata fails the JSON schema
 └── S3Unavailable           S3 throttling or 5xx after boto3's own retries: the definition retries
"""


class RejectedUpload(Exception):
    """Base of every error that is the upload's fault rather than the pipeline's."""


class ObjectNotFound(RejectedUpload):
    pass


class EmptyObject(RejectedUpload):
    pass


class ObjectTooLarge(RejectedUpload):
    pass


class ImageTooLarge(RejectedUpload):
    pass


class UnsupportedMediaType(RejectedUpload):
    pass


class InvalidMetadata(RejectedUpload):
    pass


class S3Unavailable(Exception):
    """Transient: S3 throttling or a 5xx. Not the upload's fault, so not a RejectedUpload."""
