"""A ReportLab Paragraph that breaks its lines once per width, however often the layout asks."""

from __future__ import annotations

from reportlab.platypus import Paragraph
from reportlab.rl_config import _FUZZ


class WrappedOnce(Paragraph):
    """Platypus asks a paragraph for its size more than once at the same width: a KeepTogether or a heading
    kept with what follows measures it, then the frame measures it again to place it (half the wraps of an
    English handout, each a full line breaking). Line breaking depends only on the widths, the style and the
    fragments, none of which change after construction, so the lines of the last width are kept and given
    back. A split makes new paragraphs, and ReportLab's own split may drop `blPara`, so the kept lines are
    put back with the size."""

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 - ReportLab's names
        kept = self.__dict__.get("_wrapped")
        if kept is not None and kept[0] == availWidth:
            _, self.width, self.height, self.blPara, self._wrapWidths = kept
            return self.width, self.height
        size = super().wrap(availWidth, availHeight)
        if availWidth >= _FUZZ:  # narrower, ReportLab answers "cannot fit" and breaks no lines
            self._wrapped = (availWidth, self.width, self.height, self.blPara, self._wrapWidths)
        return size
