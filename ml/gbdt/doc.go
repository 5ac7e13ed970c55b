// Package gbdt trains gradient-boosted decision trees as XGBoost 1.7's
// hist tree method does, and reads and writes XGBoost 1.7's JSON model
// format, so that a model trained here can be served by XGBoost and a
// model trained by XGBoost can be evaluated here.
//
//	m, err := gbdt.Train(d, p)          // d: a *dataset.Dataset with labels
//	prob := m.Predict(row)              // binary:logistic: a probability
//	js, err := m.MarshalXGBoostJSON()   // xgboost.Booster(model_file=...) loads it
//	m2, err := gbdt.ReadXGBoostJSON(js) // or a file XGBoost saved
//
// # Training
//
// Two objectives are supported, binary:logistic and reg:squarederror;
// [Params] holds XGBoost's hyperparameters under their usual meaning and
// [Defaults] XGBoost's defaults. Training follows XGBoost step by step,
// in the same floating-point types, and grows the same trees as XGBoost
// 1.7.4 — same splits, same leaf values — on the data sets the
// differential tests compare (up to the rounding noted at the end).
//
// Quantile cuts. Each feature's values (as float32, as XGBoost stores
// them) get at most MaxBins bins. As in XGBoost, a column streams in row
// order through a weighted quantile sketch of error 1/(8·MaxBins) —
// weights are sample weights, all 1 here: the hist method does not weight
// by hessian, unlike approx — whose summary is pruned to 8·MaxBins
// entries, then to MaxBins+1; entries 1…MaxBins−1 are the cuts, followed
// by one value above the maximum. This package runs the same sketch with
// the same float32 arithmetic, so its cuts are XGBoost's bit for bit. A
// feature with at most MaxBins distinct values gets each value but its
// smallest as a cut. A value falls in the bin of the
// first cut above it; a split at that bin's cut sends x < cut left.
//
// Growth is depthwise to MaxDepth, level by level, nodes numbered in
// breadth-first order as XGBoost numbers them. For each node the gradient
// and hessian sums of its rows are collected per bin (a histogram); of
// two siblings only the one with fewer rows is built from its rows, the
// other is the parent's histogram minus it. Every bin boundary is a
// candidate split, scored by XGBoost's loss change
//
//	G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ)
//
// (with G soft-thresholded by α): this is twice the textbook gain, and
// XGBoost compares Gamma with it directly, as this package does. A split
// needs a loss change above 1e-6 and at least Gamma, and MinChildWeight
// of hessian on both sides; ties go to the lower feature, then the lower
// bin. Leaves weigh −G/(H+λ)×LearningRate. Rows with a missing value are
// not accepted in training (a dataset.Dataset has none); in prediction a
// NaN follows the split's default direction, which for models trained
// here is right, as XGBoost's is when training saw no missing value.
//
// Speed. Bins are uint8, stored twice: row-major for building histograms
// (a row's bins are adjacent) and column-major for partitioning rows
// between children (one feature of many rows). Histograms are float64,
// 256 bins per feature so that a uint8 indexes them without a bounds
// check; on amd64 the accumulation loop is in assembly, to add (g, h)
// pairs with one instruction and to prefetch the rows ahead, whose
// scattered bins otherwise stall it. Work is cut into pieces of fixed
// size — rows of a node, features of a histogram — spread over
// Params.Threads goroutines; partial histograms are added in piece order,
// so the model does not depend on the number of goroutines. Training on
// 1M rows × 28 features, 100 rounds of depth 6 takes about 0.6–0.7 times
// as long as XGBoost 1.7.4 on two cores where it was measured
// (BenchmarkTrain compares them).
//
// # Model format
//
// [Model.MarshalXGBoostJSON] writes what XGBoost 1.7.4's save_model
// writes for a ".json" file — the same objects and keys, in the same
// sorted order, floats in the same shortest "1.25E1" form — and
// [ReadXGBoostJSON] reads such files back, so that a file XGBoost saved
// is written back byte for byte. Trees keep XGBoost's per-node arrays,
// including the training statistics (base_weights, loss_changes,
// sum_hessian) that prediction does not need.
//
// ReadXGBoostJSON parses untrusted input and fails closed. It accepts
// version 1.7.x, booster gbtree, the two objectives above and a single
// output, and rejects anything else with a message naming it: unknown,
// missing, repeated or differently spelled keys, nulls, trailing data,
// categorical splits or feature types, deleted nodes, multiple classes or
// targets. Every tree must be a tree: children numbered after their
// parent (as XGBoost allocates them), each node some node's child exactly
// once, parent links agreeing, split features below num_feature. Evaluating
// a model that was read therefore cannot index out of range or loop.
//
// Known differences from XGBoost: histogram sums are taken in another
// order than XGBoost's threads take them, so a statistic (a root's
// base_weight) or, rarely, a leaf whose gradients nearly cancel can
// differ in the last float32 digit, and a near-tie between two splits
// could in principle go the other way. Train refuses MaxBins above 256
// (bins are uint8), data or labels that are not finite float32, and rows
// with missing values.
package gbdt
