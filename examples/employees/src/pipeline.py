"""Handlers of the employees example: load the CSV, then summarise salaries per department."""

import mlrun
import pandas as pd


def downloader(context: mlrun.MLClientCtx, url: mlrun.DataItem) -> pd.DataFrame:
    """Read the input (local file or URL), normalise the column names, return it as a dataset."""
    df = url.as_df()
    df.columns = [c.strip().lower() for c in df.columns]
    context.log_result("rows", len(df))
    return df


def summarise(context: mlrun.MLClientCtx, dataset: mlrun.DataItem, min_years: int = 0) -> pd.DataFrame:
    """Average salary per department among employees with at least `min_years` of service."""
    df = dataset.as_df()
    df = df[df["years"] >= min_years]
    summary = df.groupby("department", as_index=False)["salary"].mean().round(2)
    context.log_result("departments", len(summary))
    context.log_result("top_department", str(summary.sort_values("salary").iloc[-1]["department"]))
    return summary
