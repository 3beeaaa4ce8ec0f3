#include "nodes/models/weight_patch.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"

namespace lattice {

std::pair<int64_t, int64_t> matrix_view(const std::vector<int64_t>& shape) {
  if (shape.empty()) return {1, 1};
  int64_t cols = 1;
  for (size_t i = 1; i < shape.size(); ++i) cols *= shape[i];
  return {shape[0], cols};
}

namespace {
int64_t rows_of(const HostTensor& t) { return matrix_view(t.shape).first; }
int64_t cols_of(const HostTensor& t) { return matrix_view(t.shape).second; }

// The factor pair (x, y) as one dense f32 matrix: x·y, or x when y is empty.
std::vector<float> dense(const HostTensor& x, const HostTensor& y) {
  std::vector<float> xv = x.to_f32();
  if (y.data.empty() && y.shape.empty()) return xv;
  const std::vector<float> yv = y.to_f32();
  const int64_t n = rows_of(x), r = cols_of(x), m = cols_of(y);
  std::vector<float> out(static_cast<size_t>(n * m), 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < r; ++k) {
      const float v = xv[static_cast<size_t>(i * r + k)];
      for (int64_t j = 0; j < m; ++j) out[static_cast<size_t>(i * m + j)] += v * yv[static_cast<size_t>(k * m + j)];
    }
  return out;
}

bool absent(const HostTensor& t) { return t.shape.empty() && t.data.empty(); }

// row[0, n) += a · Σ_k u[k] · v[k, :] over a rank-r product's row u.
void add_product_row(float* row, const float* u, const float* v, int64_t rank, int64_t n, float a) {
  // i-k-j order: the inner loop runs over contiguous rows of v and of the target, and vectorises.
  for (int64_t k = 0; k < rank; ++k) {
    const float c = a * u[k];
    if (c == 0) continue;
    const float* d = v + k * n;
    for (int64_t i = 0; i < n; ++i) row[i] += c * d[i];
  }
}
}  // namespace

int64_t WeightPatch::delta_rows() const {
  return kind == Kind::Kronecker ? rows_of(up) * rows_of(up2) : rows_of(up);
}

int64_t WeightPatch::delta_cols() const {
  const int64_t first = absent(down) ? cols_of(up) : cols_of(down);
  if (kind != Kind::Kronecker) return first;
  return first * (absent(down2) ? cols_of(up2) : cols_of(down2));
}

bool WeightPatch::magnitude_per_row() const {
  return !magnitude.shape.empty() && magnitude.shape[0] == delta_rows() && magnitude.numel() == delta_rows();
}

struct PatchRows::Decoded {
  WeightPatch::Kind kind = WeightPatch::Kind::Product;
  float scale = 1;
  int64_t rows = 1, offset = 0;
  int64_t rank1 = 0, rank2 = 0;  // 0: the factor is dense (Product without b)
  int64_t brows = 0, bcols = 0, acols = 0;  // Kronecker: A [rows / brows, acols], B [brows, bcols]
  std::vector<float> a, b, c, d;
  // DoRA: m, per row or per input channel of `group` columns; 1 / (‖V‖ + ε) per channel once prepared.
  std::vector<float> m;
  bool per_row = false, prepared = false;
  int64_t group = 0;
  float strength = 1;
  std::vector<float> inv_norm;
};

PatchRows::PatchRows(const std::vector<const WeightPatch*>& patches, int64_t cols) : cols_(cols) {
  for (const WeightPatch* p : patches) {
    if (p->delta_cols() != cols)
      throw_eval("weight patch for '" + p->target + "' has " + std::to_string(p->delta_cols()) + " columns, the tensor " +
                 std::to_string(cols));
    Decoded d;
    d.kind = p->kind;
    d.scale = p->scale;
    d.rows = p->delta_rows();
    d.offset = p->row_offset % std::max<int64_t>(1, d.rows);
    switch (p->kind) {
      case WeightPatch::Kind::Product:
        d.a = p->up.to_f32();
        if (!absent(p->down)) {
          d.rank1 = rows_of(p->down);
          d.b = p->down.to_f32();
        }
        break;
      case WeightPatch::Kind::Hadamard:
        d.rank1 = rows_of(p->down);
        d.rank2 = rows_of(p->down2);
        d.a = p->up.to_f32();
        d.b = p->down.to_f32();
        d.c = p->up2.to_f32();
        d.d = p->down2.to_f32();
        t1_.resize(static_cast<size_t>(cols));
        t2_.resize(static_cast<size_t>(cols));
        break;
      case WeightPatch::Kind::Kronecker:
        d.a = dense(p->up, p->down);
        d.c = dense(p->up2, p->down2);
        d.acols = absent(p->down) ? cols_of(p->up) : cols_of(p->down);
        d.brows = rows_of(p->up2);
        d.bcols = absent(p->down2) ? cols_of(p->up2) : cols_of(p->down2);
        break;
    }
    if (!absent(p->magnitude)) {
      const int64_t n = p->magnitude.numel(), first = p->magnitude.shape.empty() ? 1 : p->magnitude.shape[0];
      d.per_row = p->magnitude_per_row();
      if (!d.per_row && (first != 1 || n <= 0 || cols % n != 0))
        throw_eval("DoRA magnitude of the patch for '" + p->target + "' has shape " + p->magnitude.shape_string() +
                   ", neither one value per row (" + std::to_string(d.rows) + ") nor per input channel");
      d.group = d.per_row ? 0 : cols / n;
      d.m = p->magnitude.to_f32();
      d.strength = p->strength;
      v_.resize(static_cast<size_t>(cols));
    }
    decoded_.push_back(std::move(d));
  }
}

PatchRows::~PatchRows() = default;

void PatchRows::add_delta(const Decoded& p, int64_t s, float* row, float a) {
  const int64_t n = cols_;
  switch (p.kind) {
    case WeightPatch::Kind::Product:
      if (p.rank1 == 0) {
        const float* x = p.a.data() + s * n;
        for (int64_t i = 0; i < n; ++i) row[i] += a * x[i];
      } else {
        add_product_row(row, p.a.data() + s * p.rank1, p.b.data(), p.rank1, n, a);
      }
      break;
    case WeightPatch::Kind::Hadamard:
      std::fill(t1_.begin(), t1_.end(), 0.0f);
      std::fill(t2_.begin(), t2_.end(), 0.0f);
      add_product_row(t1_.data(), p.a.data() + s * p.rank1, p.b.data(), p.rank1, n, 1.0f);
      add_product_row(t2_.data(), p.c.data() + s * p.rank2, p.d.data(), p.rank2, n, 1.0f);
      for (int64_t i = 0; i < n; ++i) row[i] += a * t1_[static_cast<size_t>(i)] * t2_[static_cast<size_t>(i)];
      break;
    case WeightPatch::Kind::Kronecker: {
      // Row s of kron(A, B) is A[s / rows(B)] ⊗ B[s mod rows(B)]: column j·cols(B) + l is A[., j]·B[., l].
      const float* arow = p.a.data() + (s / p.brows) * p.acols;
      const float* brow = p.c.data() + (s % p.brows) * p.bcols;
      for (int64_t j = 0; j < p.acols; ++j) {
        const float c = a * arow[j];
        if (c == 0) continue;
        float* out = row + j * p.bcols;
        for (int64_t l = 0; l < p.bcols; ++l) out[l] += c * brow[l];
      }
      break;
    }
  }
}

void PatchRows::merge(float* row, int64_t o, size_t end) {
  const int64_t n = cols_;
  for (size_t k = 0; k < end; ++k) {
    const Decoded& p = decoded_[k];
    const int64_t s = (o + p.offset) % p.rows;
    if (p.m.empty()) {
      add_delta(p, s, row, p.scale);
      continue;
    }
    if (!p.per_row && !p.prepared) throw_eval("a DoRA patch with per-channel norms was merged before PatchRows::prepare");
    float* v = v_.data();
    std::copy_n(row, n, v);
    add_delta(p, s, v, p.scale);
    if (p.per_row) {
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += double(v[i]) * v[i];
      const float f = p.m[static_cast<size_t>(s)] / (static_cast<float>(std::sqrt(sum)) + FLT_EPSILON);
      for (int64_t i = 0; i < n; ++i) row[i] += p.strength * (f * v[i] - row[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        const size_t c = static_cast<size_t>(i / p.group);
        row[i] += p.strength * (p.m[c] * p.inv_norm[c] * v[i] - row[i]);
      }
    }
  }
}

void PatchRows::prepare(int64_t rows, const std::function<void(int64_t, float*)>& read) {
  std::vector<float> row(static_cast<size_t>(cols_));
  for (size_t k = 0; k < decoded_.size(); ++k) {
    Decoded& p = decoded_[k];
    if (p.m.empty() || p.per_row || p.prepared) continue;
    // ‖V‖ over every row of each channel's columns, V = (W with the patches before this one) + scale·ΔW.
    std::vector<double> sum(p.m.size(), 0.0);
    for (int64_t o = 0; o < rows; ++o) {
      read(o, row.data());
      merge(row.data(), o, k);
      add_delta(p, (o + p.offset) % p.rows, row.data(), p.scale);
      for (int64_t i = 0; i < cols_; ++i) sum[static_cast<size_t>(i / p.group)] += double(row[static_cast<size_t>(i)]) * row[static_cast<size_t>(i)];
    }
    p.inv_norm.resize(sum.size());
    for (size_t c = 0; c < sum.size(); ++c) p.inv_norm[c] = 1.0f / (static_cast<float>(std::sqrt(sum[c])) + FLT_EPSILON);
    p.prepared = true;
  }
}

void PatchRows::add(float* row, int64_t o) { merge(row, o, decoded_.size()); }

void apply_patches(std::vector<float>& w, int64_t rows, int64_t cols, const std::vector<const WeightPatch*>& patches) {
  PatchRows merge(patches, cols);
  merge.prepare(rows, [&](int64_t o, float* row) { std::copy_n(w.data() + o * cols, cols, row); });
  for (int64_t o = 0; o < rows; ++o) merge.add(w.data() + o * cols, o);
}

}  // namespace lattice
