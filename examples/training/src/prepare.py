"""mlrun handler of the training example: drop the rows without a target."""

import mlrun
import pandas as pd


def prepare(context: mlrun.MLClientCtx, measurements: mlrun.DataItem) -> pd.DataFrame:
    """The measurements with a value of y, as a dataset."""
    df = measurements.as_df().dropna(subset=["y"])
    context.log_result("rows", len(df))
    return df
