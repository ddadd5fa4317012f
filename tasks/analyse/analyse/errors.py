"""Named errors of the analyse task; the class name is the ASL error name that Catch matches.

Exception
 ├── RejectedContent          the upload's fault: the definition quarantines it
 │    ├── CorruptImage        Pillow cannot identify or decode it (truncated, garbage after a valid magic)
 │    ├── DecompressionBomb   the header claims more pixels than the limit allows
 │    ├── ImageTooLarge       decodable, but too many pixels to decode within the memory budget
 │    └── UnsupportedMediaType    a content type this task has no analyser for
 └── S3Unavailable           S3 throttling or 5xx after boto3's own retries: the definition retries
"""


class RejectedContent(Exception):
    """Base of every error that is the upload's fault rather than the pipeline's."""


class CorruptImage(RejectedContent):
    pass


class DecompressionBomb(RejectedContent):
    pass


class ImageTooLarge(RejectedContent):
    pass


class UnsupportedMediaType(RejectedContent):
    pass


class S3Unavailable(Exception):
    """Transient: S3 throttling or a 5xx. Not the upload's fault, so not a RejectedContent."""
