"""The small helpers the course notebooks share (``cssl_edu.notebook``)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import matplotlib
import pytest
import torch

from cssl_edu.notebook import (
    WIDGET_VIEW_MIME,
    cpu_threads,
    find_cifar_subset,
    format_table,
    interactive_figure,
    nearest_neighbours,
    pca_2d,
    plot_embedding_2d,
    show_retrieval,
)

matplotlib.use("Agg")


def test_cpu_threads_backs_off_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSSL_EDU_THREADS", raising=False)
    assert cpu_threads(cores=2, load=0.3) == 2
    assert cpu_threads(cores=2, load=4.0) == 1
    assert cpu_threads(cores=16, load=0.0) == 4  # never more than 4
    assert cpu_threads(cores=1, load=9.0) == 1
    monkeypatch.setenv("CSSL_EDU_THREADS", "3")
    assert cpu_threads(cores=2, load=9.0) == 3
    monkeypatch.setenv("CSSL_EDU_THREADS", "zero")
    with pytest.raises(ValueError, match="CSSL_EDU_THREADS"):
        cpu_threads()


def test_find_cifar_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSSL_EDU_CIFAR_NPZ", raising=False)
    monkeypatch.delenv("CSSL_EDU_CIFAR_SUBSET", raising=False)
    missing = tmp_path / "nope.npz"
    assert find_cifar_subset(missing) is None
    f = tmp_path / "c.npz"
    f.write_bytes(b"x")
    assert find_cifar_subset(missing, f) == f.resolve()
    other = tmp_path / "env.npz"
    other.write_bytes(b"y")
    monkeypatch.setenv("CSSL_EDU_CIFAR_NPZ", str(other))
    assert find_cifar_subset(f) == other.resolve()  # the environment variable wins


def test_format_table() -> None:
    t = format_table([{"a": 1, "b": 0.123}, {"a": 2, "c": "x"}], floatfmt=".2f")
    lines = t.splitlines()
    assert lines[0] == "| a | b | c |"
    assert lines[2] == "| 1 | 0.12 |  |"
    assert lines[3] == "| 2 |  | x |"
    assert format_table([{"a": 1}], columns=["b"]).splitlines()[-1] == "|  |"
    with pytest.raises(ValueError, match="at least one row"):
        format_table([])


def test_pca_2d_finds_the_main_directions() -> None:
    g = torch.Generator().manual_seed(0)
    # variance 9 along e3, 1 along e1, tiny elsewhere
    x = torch.randn(500, 5, generator=g) * torch.tensor([1.0, 0.01, 3.0, 0.01, 0.01]) + 7.0
    y = pca_2d(x)
    assert y.shape == (500, 2) and y.dtype == torch.float32
    assert torch.allclose(y.mean(0), torch.zeros(2), atol=1e-4)
    assert torch.allclose(y[:, 0].abs(), (x[:, 2] - x[:, 2].mean()).abs(), atol=0.05)
    assert y[:, 0].var() > 5 * y[:, 1].var()
    # deterministic sign: the same data gives the same picture, and so does a sign-flipped copy
    assert torch.equal(pca_2d(x), y)
    assert torch.allclose(pca_2d(-x).abs(), y.abs(), atol=1e-4)
    with pytest.raises(ValueError, match="pca_2d"):
        pca_2d(torch.zeros(1, 3))


def test_nearest_neighbours() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    idx = nearest_neighbours(bank[:1], bank, k=2)
    assert idx.tolist() == [[0, 2]]
    idx = nearest_neighbours(bank[:1], bank, k=2, exclude=torch.tensor([0]))
    assert idx.tolist() == [[2, 1]]
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(bank, bank, k=4, exclude=torch.arange(4))
    with pytest.raises(ValueError, match="same D"):
        nearest_neighbours(torch.zeros(2, 3), bank)


def test_plots_build_without_a_display() -> None:
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    f, y = torch.randn(60, 8, generator=g), torch.arange(60) % 3
    ax = plot_embedding_2d(f, y, ["a", "b", "c"], title="t")
    assert ax.get_xlabel() == "principal component 1"
    with pytest.raises(ValueError, match="must match"):
        plot_embedding_2d(f, y[:5])
    imgs = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=g)
    nn_idx = nearest_neighbours(imgs[:2].flatten(1).float(), imgs.flatten(1).float(), k=3)
    fig = show_retrieval(imgs[:2], imgs, nn_idx, correct=torch.ones(2, 3, dtype=torch.bool), title="r")
    assert len(fig.axes) == 2 * 4
    plt.close("all")


# ---------------------------------------------------------------------- interactive_figure

REPO = Path(__file__).resolve().parents[1]


def _red_figure(red: float = 0.5, n_figures: int = 1) -> None:
    """Draws ``n_figures`` figures, each one image of a single colour whose red channel is ``red``."""
    import matplotlib.pyplot as plt

    for _ in range(n_figures):
        _, ax = plt.subplots(figsize=(1, 1), dpi=20)
        ax.imshow([[[red, 0.0, 0.0]]])
        ax.set_axis_off()
    plt.show()


def _png_red(png_b64: str) -> float:
    """Red channel (0..1) of the centre pixel of a base64 PNG."""
    import matplotlib.image

    raw = base64.b64decode(png_b64)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    img = matplotlib.image.imread(io.BytesIO(raw), format="png")
    return float(img[img.shape[0] // 2, img.shape[1] // 2, 0])


@pytest.fixture
def displayed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict, dict | None]]:
    """What ``interactive_figure`` passes to ``IPython.display.display`` (outside a kernel)."""
    import IPython.display

    shown: list[tuple[dict, dict | None]] = []

    def fake_display(obj, raw=False, metadata=None, **kw):
        assert raw, "the bundle is displayed raw"
        shown.append((obj, metadata))

    monkeypatch.setattr(IPython.display, "display", fake_display)
    return shown


def test_interactive_figure_shows_one_bundle_with_the_widget_and_a_png(displayed: list) -> None:
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    calls: list[float] = []

    def draw(red: float = 0.5) -> None:
        calls.append(red)
        _red_figure(red)

    slider = widgets.FloatSlider(value=0.8, min=0.0, max=1.0)
    w = interactive_figure(draw, red=slider)
    assert isinstance(w, widgets.interactive) and slider in w.children
    assert calls == [0.8], "the widget's first drawing and the PNG come from one call"
    assert len(displayed) == 1, "one display, not a widget and a static copy"
    bundle, _ = displayed[0]
    assert set(bundle) == {WIDGET_VIEW_MIME, "image/png", "text/plain"}
    assert bundle[WIDGET_VIEW_MIME]["model_id"] == w.model_id
    assert bundle[WIDGET_VIEW_MIME]["version_major"] == 2
    assert _png_red(bundle["image/png"]) == pytest.approx(0.8, abs=0.01)  # the initial value's figure
    assert "draw(red=0.8)" in bundle["text/plain"]
    assert plt.get_fignums() == [], "figures are closed once rendered"

    slider.value = 0.2  # moving the control redraws through fn, and displays nothing new outside the widget
    assert calls == [0.8, 0.2] and len(displayed) == 1
    assert plt.get_fignums() == []


def test_interactive_figure_keeps_the_signature_for_abbreviations(displayed: list) -> None:
    import ipywidgets as widgets

    def draw(red: float = 0.25, label: str = "x") -> None:
        _red_figure(red)

    w = interactive_figure(draw, label=widgets.fixed("y"))  # `red` gets a slider from its default
    (slider,) = [c for c in w.children if isinstance(c, widgets.FloatSlider)]
    assert slider.value == 0.25 and slider.description == "red"
    assert w.kwargs == {"red": 0.25, "label": "y"}
    assert _png_red(displayed[0][0]["image/png"]) == pytest.approx(0.25, abs=0.01)


def test_interactive_figure_errors(displayed: list) -> None:
    with pytest.raises(ValueError, match="drew 0 figures"):
        interactive_figure(lambda red=0.5: None)
    with pytest.raises(ValueError, match=r"drew 2 figures.*plt.subplots"):
        interactive_figure(lambda red=0.5: _red_figure(red, n_figures=2))

    def broken(red: float = 0.5) -> None:
        raise ZeroDivisionError("from the figure function")

    with pytest.raises(ZeroDivisionError, match="from the figure function"):
        interactive_figure(broken)
    assert displayed == [], "nothing is shown when the first drawing fails"


def test_interactive_figure_in_a_kernel_and_in_course_html(tmp_path: Path) -> None:
    """In a real kernel: the cell's only output is the bundle (the live drawing goes into the
    widget's Output area); rendered by `cssl-edu course html`, the page shows that PNG once."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbclient")
    from nbformat.v4 import new_code_cell, new_notebook

    from cssl_edu.course import render_html

    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        new_code_cell(
            "import ipywidgets as widgets\n"
            "import matplotlib.pyplot as plt\n"
            "from cssl_edu.notebook import interactive_figure\n"
            "def draw(red: float = 0.5):\n"
            "    print('drawing', red)\n"
            "    _, ax = plt.subplots(figsize=(1, 1), dpi=20)\n"
            "    ax.imshow([[[red, 0.0, 0.0]]])\n"
            "    ax.set_axis_off()\n"
            "    plt.show()\n"
            "w = interactive_figure(draw, red=widgets.FloatSlider(value=0.6, min=0.0, max=1.0))"
        )
    ]
    (tmp_path / "src" / "notebooks").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "src" / "notebooks" / "00_widget.ipynb")
    (page,) = render_html(tmp_path / "html", source=tmp_path / "src", timeout=120)
    html = page.read_text(encoding="utf-8")
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 1, f"one figure in the page, found {len(images)}"
    assert _png_red(images[0]) == pytest.approx(0.6, abs=0.01)
    assert WIDGET_VIEW_MIME not in html, "no widget view (it would need JavaScript from the network)"

    from nbclient import NotebookClient

    NotebookClient(nb, timeout=120, kernel_name="python3").execute()  # stores the widget state
    outputs = nb.cells[0].outputs
    assert [o.output_type for o in outputs] == ["display_data"], outputs
    assert set(outputs[0].data) == {WIDGET_VIEW_MIME, "image/png", "text/plain"}
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    model_id = outputs[0].data[WIDGET_VIEW_MIME]["model_id"]
    assert model_id in state
    live = [m["state"]["outputs"] for m in state.values() if m["model_name"] == "OutputModel"]
    assert len(live) == 1, "one Output area, inside the interactive widget"
    kinds = [(o["output_type"], "image/png" in o.get("data", {})) for o in live[0]]
    assert ("display_data", True) in kinds and ("stream", False) in kinds, "the live drawing and its print"


def test_lessons_show_widgets_through_interactive_figure() -> None:
    """Every lesson's widget goes through the helper, with no static copy beside it."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            src = "".join(cell["source"])
            if cell["cell_type"] != "code":
                continue
            assert not re.search(
                r"\b(widgets\.)?(interactive|interact|interact_manual)\(",
                src.replace("interactive_figure(", ""),
            ), f"{path.name}, cell {i}: show widgets with cssl_edu.notebook.interactive_figure"
            assert "static copy" not in src, f"{path.name}, cell {i}: interactive_figure already leaves a PNG"
