"""Reference runs of XGBoost for the gbdt package's differential tests.

Usage: python3 xgbref.py COMMAND JOB.json OUT.json

The Go tests write JOB.json and read OUT.json. Matrices are raw
little-endian float64 files of rows*cols values (row-major); labels are
raw float64 files of rows values. Commands:

  predict  {model, x, rows, cols, feature_names}
           -> {margin: [...], prob: [...]}            (Booster.predict)
  train    {x, y, rows, cols, feature_names, params, rounds, model}
           -> {margin: [...]}   trains on all rows, saves the model JSON
  cv       {x, y, rows, cols, feature_names, params, rounds, folds, model_prefix}
           -> {accuracy: [...], models: [...], margins: [[...], ...]}
              for fold k: trains on rows whose fold != k, saves the model
              to model_prefix+"K.json", scores the rows of fold k (label
              vs probability >= 0.5), predicts margins on all rows
  bench    {x, y, rows, cols, params, rounds}
           -> {dmatrix_seconds, train_seconds}
"""
import json
import sys
import time

import numpy as np
import xgboost as xgb


def matrix(job):
    return np.fromfile(job["x"], dtype="<f8").reshape(job["rows"], job["cols"])


def labels(job):
    return np.fromfile(job["y"], dtype="<f8")


def dmatrix(job, x, y=None):
    return xgb.DMatrix(x, label=y, feature_names=job.get("feature_names"), nthread=2)


def predict(job):
    b = xgb.Booster(model_file=job["model"])
    d = dmatrix(job, matrix(job))
    return {
        "margin": b.predict(d, output_margin=True).tolist(),
        "prob": b.predict(d).tolist(),
    }


def train(job):
    x, y = matrix(job), labels(job)
    b = xgb.train(job["params"], dmatrix(job, x, y), job["rounds"])
    b.save_model(job["model"])
    return {"margin": b.predict(dmatrix(job, x), output_margin=True).tolist()}


def cv(job):
    x, y = matrix(job), labels(job)
    folds = np.asarray(job["folds"])
    out = {"accuracy": [], "models": [], "margins": []}
    everything = dmatrix(job, x)
    for k in range(int(folds.max()) + 1):
        tr, te = folds != k, folds == k
        b = xgb.train(job["params"], dmatrix(job, x[tr], y[tr]), job["rounds"])
        path = "%s%d.json" % (job["model_prefix"], k)
        b.save_model(path)
        p = b.predict(dmatrix(job, x[te]))
        out["accuracy"].append(float(np.mean((p >= 0.5) == (y[te] == 1))))
        out["models"].append(path)
        out["margins"].append(b.predict(everything, output_margin=True).tolist())
    return out


def bench(job):
    x, y = matrix(job).astype(np.float32), labels(job)
    t0 = time.perf_counter()
    d = xgb.DMatrix(x, label=y, nthread=job["params"].get("nthread", 2))
    t1 = time.perf_counter()
    xgb.train(job["params"], d, job["rounds"])
    t2 = time.perf_counter()
    return {"dmatrix_seconds": t1 - t0, "train_seconds": t2 - t1}


def main():
    command, job_path, out_path = sys.argv[1:4]
    with open(job_path) as f:
        job = json.load(f)
    result = {"predict": predict, "train": train, "cv": cv, "bench": bench}[command](job)
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
