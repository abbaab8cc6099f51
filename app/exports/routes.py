"""GET /export/segments/{id}/members.csv: a segment's effective members as CSV, streamed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from app.exports import service
from app.segments import service as segments
from app.viewer import Viewer


def _error(message: str, code: str, status: int) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


async def segment_members_csv(request: Request) -> Response:
    """Every effective member of one of the caller's segments (another site's is 404)."""
    viewer: Viewer | None = request.scope.get("state", {}).get("viewer")
    if viewer is None:
        return _error(
            "Authentication required: send 'Authorization: Bearer <key>'", "UNAUTHENTICATED", 401
        )
    segment_id = request.path_params["id"]
    segment = await segments.get(site_id=viewer.site_id, segment_id=segment_id)
    if segment is None:
        return _error(f"segment {segment_id!r} not found", "NOT_FOUND", 404)
    return StreamingResponse(
        service.csv_chunks(site_id=viewer.site_id, segment_pk=segment.id),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="segment-{segment.id}-members.csv"'},
    )
