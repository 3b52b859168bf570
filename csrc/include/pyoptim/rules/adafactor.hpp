// Adafactor (Shazeer and Stern, 2018), as torch.optim.Adafactor: the second
// moment of a matrix is kept factored, one mean of g^2 per row and one per
// column (row_var, col_var: rows + cols numbers instead of rows x cols), and
// rebuilt as row_var (x) col_var / mean(row_var); parameters of fewer than two
// axes keep it whole (variance). The update g / sqrt(v) is clipped by its RMS
// (d) and scaled by the parameter's RMS (relative step size). A whole-tensor
// rule (multi_tensor.hpp): three passes per tensor, their sums in a fixed order.
#pragma once

#include <cmath>
#include <limits>

#include "../common.hpp"
#include "../reduction.hpp"
#include "../tensor.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct Adafactor {
  static constexpr const char* name = "adafactor";
  static constexpr bool whole_tensor = true;

  // eps1 < 0: the parameter dtype's machine epsilon (torch's eps=(None, ...)).
  enum class Option : int { lr, beta2_decay, eps1, eps2, d, weight_decay, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta2_decay", "eps1", "eps2", "d", "weight_decay",
                                                 "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { row_var, col_var, variance, n_state };
  static constexpr const char* state_names[] = {"row_var", "col_var", "variance"};
  static constexpr StateShape state_shapes[] = {StateShape::matrix_rows, StateShape::matrix_cols,
                                                StateShape::unless_matrix};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    T grad_sign, weight, weight_minus_one, eps1, eps1_squared, decay;
    bool small_weight;
    double rho, eps2, d;

    Step(Options<Option> o, std::int64_t step) {
      const double t = double(step);
      const double w = std::pow(t, o[Option::beta2_decay]);  // 1 - beta2_t
      const double lr = o[Option::lr];
      const T e = o[Option::eps1] < 0.0 ? std::numeric_limits<T>::epsilon() : T(o[Option::eps1]);
      grad_sign = o.flag(Option::maximize) ? T(-1) : T(1);
      weight = T(w);
      weight_minus_one = -(T(1) - weight);  // torch.lerp's forms, as the shared lerp
      small_weight = weight < T(0.5);
      eps1 = e;
      eps1_squared = e * e;
      decay = T(1.0 - lr * o[Option::weight_decay]);
      rho = std::min(lr, 1.0 / std::sqrt(t));
      eps2 = o[Option::eps2];
      d = o[Option::d];
    }

    // -alpha / max(1, RMS(u) / d), alpha = max(eps2, RMS(p)) * rho, from the sums of p^2 and u^2.
    T step_size(double param_squares, double update_squares, std::size_t n) const {
      const double root_n = std::sqrt(double(n));
      const double alpha = std::max(eps2, std::sqrt(param_squares) / root_n) * rho;
      return T(-alpha / std::max(1.0, std::sqrt(update_squares) / (root_n * d)));
    }
  };

  // The update of one element: g / sqrt(max(v, eps1^2)).
  template <class T>
  static T scaled(const Step<T>& s, T v, T g) {
    return (T(1) / std::sqrt(std::max(v, s.eps1_squared))) * g;
  }

  // The step size from the blocks' sums of p^2 and u^2, added in order.
  template <class T>
  static T step_from(const Step<T>& s, const double* p2, const double* u2, std::size_t blocks, std::size_t n) {
    double ps = 0.0, us = 0.0;
    for (std::size_t b = 0; b < blocks; ++b) ps += p2[b], us += u2[b];
    return s.step_size(ps, us, n);
  }

  template <class T>
  static T lerp_to(const Step<T>& s, T kept, T target) {
    return lerp(kept, target, s.weight, s.weight_minus_one, s.small_weight);
  }

  // Rows of a matrix summed together in pass 1: about one reduction block.
  static std::size_t rows_per_block(const std::size_t cols) {
    return cols == 0 ? std::size_t(1) : std::max<std::size_t>(1, kNormBlock / cols);
  }

  template <class T>
  static std::size_t scratch_doubles(const TensorRef<T>& x) {
    if (!x.matrix) return 2 * reduction_blocks(x.size);
    const std::size_t blocks = x.batch * ((x.rows + rows_per_block(x.cols) - 1) / rows_per_block(x.cols));
    return x.batch * x.rows + blocks * x.cols + 2 * blocks + x.batch;
  }

  template <class T, class Gradient>
  static void step_tensor(const Step<T>& s, const Gradient& in, const TensorRef<T>& x, const Team& team,
                          double* scratch) {
    if (x.size == 0) return;  // nothing to scale by (torch divides by zero)
    if (x.matrix)
      step_factored(s, in, x, team, scratch);
    else
      step_whole(s, in, x, team, scratch);
  }

  // Parameters of fewer than two axes: v = lerp(v, g^2, 1 - beta2_t) element-wise.
  template <class T, class Gradient>
  static void step_whole(const Step<T>& s, const Gradient& in, const TensorRef<T>& x, const Team& team,
                         double* scratch) {
    const std::size_t blocks = reduction_blocks(x.size);
    double* p2 = scratch;
    double* u2 = scratch + blocks;
    for (std::size_t b = team.begin(blocks); b < team.end(blocks); ++b) {
      const std::size_t at = b * kNormBlock, n = std::min(kNormBlock, x.size - at);
      const Step<T> k = s;  // local copies: see update_range
      const Gradient reader = in;
      const T* PYOPTIM_RESTRICT param = x.param + at;
      const T* PYOPTIM_RESTRICT grad = x.grad + at;
      T* PYOPTIM_RESTRICT v = x.state[variance] + at;
      double pl[kNormLanes] = {}, ul[kNormLanes] = {};
      for (std::size_t j = 0; j < n; j += kNormLanes) {
        const std::size_t lanes = lanes_at(j, n);
        PYOPTIM_SIMD
        for (std::size_t l = 0; l < lanes; ++l) {
          const std::size_t i = j + l;
          const T g = reader(grad[i]) * k.grad_sign;
          const T vi = lerp_to(k, v[i], g * g);
          v[i] = vi;
          const T u = scaled(k, vi, g);
          pl[l] += double(param[i]) * double(param[i]);
          ul[l] += double(u) * double(u);
        }
      }
      p2[b] = lane_total(pl);
      u2[b] = lane_total(ul);
    }
    team.barrier();
    const T step = step_from(s, p2, u2, blocks, x.size);
    for (std::size_t b = team.begin(blocks); b < team.end(blocks); ++b) {
      const std::size_t at = b * kNormBlock, n = std::min(kNormBlock, x.size - at);
      const Step<T> k = s;
      const Gradient reader = in;
      const T size = step;
      T* PYOPTIM_RESTRICT param = x.param + at;
      const T* PYOPTIM_RESTRICT grad = x.grad + at;
      const T* PYOPTIM_RESTRICT v = x.state[variance] + at;
      PYOPTIM_SIMD
      for (std::size_t i = 0; i < n; ++i) {
        const T g = reader(grad[i]) * k.grad_sign;
        const T u = scaled(k, v[i], g);
        param[i] = param[i] * k.decay + size * u;
      }
    }
  }

  // Parameters of two or more axes, batch x rows x cols. Pass 1 (blocks of rows
  // within one matrix): each row's sum of g^2, each block's column sums and sum
  // of p^2; then the factors: row_var and col_var move toward the row and
  // column means of g^2, and each matrix's mean of row_var; pass 2: the sum of
  // u^2; pass 3: the parameter.
  template <class T, class Gradient>
  static void step_factored(const Step<T>& s, const Gradient& in, const TensorRef<T>& x, const Team& team,
                            double* scratch) {
    const std::size_t rows = x.rows, cols = x.cols, per = rows_per_block(cols);
    const std::size_t per_matrix = (rows + per - 1) / per, blocks = x.batch * per_matrix;
    double* row_sums = scratch;                       // batch * rows
    double* col_sums = row_sums + x.batch * rows;     // blocks * cols
    double* p2 = col_sums + blocks * cols;            // blocks
    double* u2 = p2 + blocks;                         // blocks
    double* row_mean = u2 + blocks;                   // batch: mean of row_var, clamped at eps1
    T* PYOPTIM_RESTRICT rv = x.state[row_var];
    T* PYOPTIM_RESTRICT cv = x.state[col_var];
    auto block_rows = [&](std::size_t b, std::size_t& first, std::size_t& last) {
      first = (b / per_matrix) * rows + (b % per_matrix) * per;  // rows of the whole stack
      last = std::min(first + per, (b / per_matrix + 1) * rows);
    };

    for (std::size_t b = team.begin(blocks); b < team.end(blocks); ++b) {
      std::size_t first, last;
      block_rows(b, first, last);
      const Step<T> k = s;
      const Gradient reader = in;
      double* PYOPTIM_RESTRICT cs = col_sums + b * cols;
      for (std::size_t c = 0; c < cols; ++c) cs[c] = 0.0;
      double pl[kNormLanes] = {};
      for (std::size_t r = first; r < last; ++r) {
        const T* PYOPTIM_RESTRICT grad = x.grad + r * cols;
        const T* PYOPTIM_RESTRICT param = x.param + r * cols;
        double gl[kNormLanes] = {};
        for (std::size_t j = 0; j < cols; j += kNormLanes) {
          const std::size_t lanes = lanes_at(j, cols);
          PYOPTIM_SIMD
          for (std::size_t l = 0; l < lanes; ++l) {
            const std::size_t i = j + l;
            const double g = double(reader(grad[i]) * k.grad_sign);
            gl[l] += g * g;
            cs[i] += g * g;
            pl[l] += double(param[i]) * double(param[i]);
          }
        }
        row_sums[r] = lane_total(gl);
      }
      p2[b] = lane_total(pl);
    }
    team.barrier();

    const std::size_t all_rows = x.batch * rows, all_cols = x.batch * cols;
    for (std::size_t r = team.begin(all_rows); r < team.end(all_rows); ++r)
      rv[r] = lerp_to(s, rv[r], T(row_sums[r] / double(cols)));
    for (std::size_t i = team.begin(all_cols); i < team.end(all_cols); ++i) {
      const std::size_t m = i / cols, c = i % cols;
      double total = 0.0;
      for (std::size_t b = m * per_matrix; b < (m + 1) * per_matrix; ++b) total += col_sums[b * cols + c];
      cv[i] = lerp_to(s, cv[i], T(total / double(rows)));
    }
    team.barrier();
    for (std::size_t m = team.begin(x.batch); m < team.end(x.batch); ++m) {
      double total = 0.0;
      for (std::size_t r = m * rows; r < (m + 1) * rows; ++r) total += double(rv[r]);
      row_mean[m] = double(std::max(T(total / double(rows)), s.eps1));
    }
    team.barrier();

    for (std::size_t b = team.begin(blocks); b < team.end(blocks); ++b) {
      std::size_t first, last;
      block_rows(b, first, last);
      const Step<T> k = s;
      const Gradient reader = in;
      const T mean = T(row_mean[b / per_matrix]);
      const T* PYOPTIM_RESTRICT col = cv + (b / per_matrix) * cols;
      double ul[kNormLanes] = {};
      for (std::size_t r = first; r < last; ++r) {
        const T* PYOPTIM_RESTRICT grad = x.grad + r * cols;
        const T row = rv[r];
        for (std::size_t j = 0; j < cols; j += kNormLanes) {
          const std::size_t lanes = lanes_at(j, cols);
          PYOPTIM_SIMD
          for (std::size_t l = 0; l < lanes; ++l) {
            const std::size_t i = j + l;
            const T g = reader(grad[i]) * k.grad_sign;
            const T u = scaled(k, row * col[i] / mean, g);
            ul[l] += double(u) * double(u);
          }
        }
      }
      u2[b] = lane_total(ul);
    }
    team.barrier();

    const T step = step_from(s, p2, u2, blocks, x.size);
    for (std::size_t b = team.begin(blocks); b < team.end(blocks); ++b) {
      std::size_t first, last;
      block_rows(b, first, last);
      const Step<T> k = s;
      const Gradient reader = in;
      const T size = step;
      const T mean = T(row_mean[b / per_matrix]);
      const T* PYOPTIM_RESTRICT col = cv + (b / per_matrix) * cols;
      for (std::size_t r = first; r < last; ++r) {
        T* PYOPTIM_RESTRICT param = x.param + r * cols;
        const T* PYOPTIM_RESTRICT grad = x.grad + r * cols;
        const T row = rv[r];
        PYOPTIM_SIMD
        for (std::size_t i = 0; i < cols; ++i) {
          const T g = reader(grad[i]) * k.grad_sign;
          const T u = scaled(k, row * col[i] / mean, g);
          param[i] = param[i] * k.decay + size * u;
        }
      }
    }
  }
};

PYOPTIM_END_NAMESPACE
