"""importMembers: store the upload as a job and return it at once; a worker runs it."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from graphql import GraphQLError
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from app.graphql.context import Info
from app.graphql.mutation import mutation
from app.jobs import service
from app.jobs.models import ImportFormat
from app.jobs.types import ImportJobPayload, ImportJobType
from app.jobs.worker import wake_workers
from app.memberships import types as _memberships  # noqa: F401  (names Mode MembershipMode)
from app.memberships.bulk import Mode
from app.viewer import Role


def _file(value: object) -> UploadFile:
    """An Upload variable's value: the file a multipart request maps to it (what Starlette's
    parser gives), never a JSON value (BAD_USER_INPUT; strawberry's Upload takes any value,
    which then failed here as INTERNAL)."""
    if not isinstance(value, UploadFile):
        raise GraphQLError(
            "Upload takes a file part of a multipart request mapped to the variable (the"
            " GraphQL multipart request spec), not a JSON value"
        )
    return value


# the schema's Upload: strawberry's (the same name and description), refusing what is not a file
SCALARS: dict[object, Any] = {
    Upload: strawberry.scalar(
        name="Upload",
        description="Represents a file upload.",
        serialize=lambda v: v,
        parse_value=_file,
    )
}


@strawberry.input
class ImportMembersInput:
    file: Upload
    format: ImportFormat
    segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Also put every imported member in this segment."
    )
    mode: Mode | None = strawberry.field(
        default=Mode.ADD, description="ADD or OVERRIDE, for segmentId."
    )


@strawberry.type
class ImportJobMutations:
    @mutation(
        Role.WRITER,
        description=(
            "Upsert members from a CSV (with a header row), JSON array or JSON Lines file;"
            " returns a PENDING job at once (see importJob)."
        ),
    )
    async def import_members(self, info: Info, input: ImportMembersInput) -> ImportJobPayload:
        upload = cast(UploadFile, input.file)  # what Starlette's multipart parser gives
        try:
            job = await service.create(
                **info.context.acting,
                upload=service.Upload(file=upload.file, name=upload.filename or ""),
                fmt=input.format,
                segment_id=input.segment_id,
                mode=input.mode or Mode.ADD,
                settings=info.context.settings,
            )
        finally:
            await upload.close()
        wake_workers()
        return ImportJobPayload(job=ImportJobType.from_model(job), user_errors=[])
