"""The report's layer colours never look like its red for wasted bytes, in the tables and
in the treemap's script alike."""

import re

from distill.analyze.report.page import SCRIPT, colour


def _hue(text: str) -> int:
    return int(re.match(r"hsl\((\d+),", text).group(1))


def test_no_layer_is_coloured_like_waste():
    hues = [_hue(colour(i)) for i in range(500)]
    assert all(40 <= h < 330 for h in hues)  # the reds (330-40) mean wasted
    assert _hue(colour(0)) != 0


def test_the_treemap_colours_layers_as_the_tables_do():
    js = re.search(r"hsl\('\+\((\d+)\+l\*67%(\d+)\)", SCRIPT)
    start, span = int(js.group(1)), int(js.group(2))
    assert [f"hsl({start + i * 67 % span},55%,62%)" for i in range(50)] == [colour(i) for i in range(50)]
