"""Every notebook executes headless (a real Jupyter kernel) on a small generated dataset and writes its figures;
the committed .ipynb files are the .py sources with outputs stripped."""

from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[3] / "notebooks"


@pytest.fixture(scope="module")
def nb_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("notebooks")


def _execute(name: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("ALPHAPULSE_NB_DATA", str(root / "data"))
    monkeypatch.setenv("ALPHAPULSE_NB_FIGURES", str(root / "figures"))
    monkeypatch.setenv("ALPHAPULSE_NB_QUOTES", "3000")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel runs in notebooks/: this checkout's sources first, whatever the caller's relative PYTHONPATH
    monkeypatch.setenv("PYTHONPATH", str(NOTEBOOKS.parent / "services"))
    nb = jupytext.read(NOTEBOOKS / f"{name}.py")
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()
    return nb


@pytest.mark.parametrize(
    ("name", "figures"),
    [
        ("market_analysis", ["market_candles", "market_returns"]),
        ("microstructure", ["microstructure_leadlag", "microstructure_trade_sizes"]),
        ("signal_analysis", ["signal_ic"]),
        ("risk", ["risk_drawdowns"]),
    ],
)
def test_notebook_runs_and_writes_its_figures(
    name: str, figures: list[str], nb_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _execute(name, nb_env, monkeypatch)
    for fig in figures:
        assert (nb_env / "figures" / f"{fig}.png").stat().st_size > 5_000


def test_backtesting_then_portfolio_performance(nb_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = _execute("backtesting", nb_env, monkeypatch)
    assert "fingerprint" in "".join(c.source for c in nb.cells)
    assert (nb_env / "figures" / "backtest_report.png").stat().st_size > 10_000
    _execute("portfolio_performance", nb_env, monkeypatch)
    for fig in ("portfolio_equity", "portfolio_turnover_fees"):
        assert (nb_env / "figures" / f"{fig}.png").stat().st_size > 5_000


@pytest.mark.parametrize("source", sorted(p.name for p in NOTEBOOKS.glob("*.py") if not p.name.startswith("_")))
def test_committed_ipynb_is_the_source_without_outputs(source: str) -> None:
    text = jupytext.read(NOTEBOOKS / source)
    committed = nbformat.read(NOTEBOOKS / source.replace(".py", ".ipynb"), as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in text.cells]
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in committed.cells if c.cell_type == "code"
    )
