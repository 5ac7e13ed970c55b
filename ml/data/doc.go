// Package data ships the real data set the ML tests and `confide demo
// mpml` use: the Wisconsin Diagnostic Breast Cancer data (WDBC; W. H.
// Wolberg, W. N. Street and O. L. Mangasarian, University of Wisconsin,
// 1995; UCI Machine Learning Repository, CC BY 4.0), as scikit-learn
// distributes it (sklearn/datasets/data/breast_cancer.csv, BSD-3-Clause;
// Debian's python3-sklearn 1.2.1). 569 patients, 30 numeric features of
// cell nuclei; this copy names the columns as scikit-learn's
// feature_names (spaces as underscores) and adds the label "malignant"
// (1 = malignant, 0 = benign; scikit-learn's target is the reverse).
// Values are as in scikit-learn's file.
package data

import _ "embed"

// BreastCancerCSV is the data set as CSV with a header row.
//
//go:embed breast_cancer.csv
var BreastCancerCSV []byte
