// SparseAdam: torch.optim.SparseAdam, Adam masked to the elements a sparse
// gradient holds (an embedding table's touched rows). Element-wise, so the
// driver runs it over the touched rows as over any tensors (the bindings'
// step_rows hands it one TensorRef per row); over a dense gradient it updates
// every element. The operations are torch's, in its order:
//   dm = (g - m)(1 - beta1); m = m + dm;  dv = (g^2 - v)(1 - beta2); v = v + dv
//   p = p + (-lr sqrt(1 - beta2^t) / (1 - beta1^t)) ((dm + m_old) / (sqrt(dv + v_old) + eps))
#pragma once

#include <cmath>

#include "../common.hpp"

PYOPTIM_BEGIN_NAMESPACE

struct SparseAdam {
  static constexpr const char* name = "sparse_adam";

  enum class Option : int { lr, beta1, beta2, eps, maximize, count };
  static constexpr const char* option_names[] = {"lr", "beta1", "beta2", "eps", "maximize"};
  static constexpr int n_options = int(Option::count);

  enum State : int { exp_avg, exp_avg_sq, n_state };
  static constexpr const char* state_names[] = {"exp_avg", "exp_avg_sq"};

  static bool uses_state(const double*, int) { return true; }

  template <class T>
  struct Step {
    T grad_sign, one_minus_beta1, one_minus_beta2, eps, neg_step_size;

    Step(Options<Option> o, std::int64_t step)
        : grad_sign(o.flag(Option::maximize) ? T(-1) : T(1)),
          one_minus_beta1(T(1.0 - o[Option::beta1])),
          one_minus_beta2(T(1.0 - o[Option::beta2])),
          eps(T(o[Option::eps])),
          neg_step_size(T(-(o[Option::lr] * std::sqrt(1.0 - std::pow(o[Option::beta2], double(step))) /
                            (1.0 - std::pow(o[Option::beta1], double(step)))))) {}
  };

  template <class T, class Gradient>
  static void update(const Step<T>& s, const Gradient& in, std::size_t n, T* PYOPTIM_RESTRICT param,
                     const T* PYOPTIM_RESTRICT grad, T* const* state) {
    T* PYOPTIM_RESTRICT m = state[exp_avg];
    T* PYOPTIM_RESTRICT v = state[exp_avg_sq];
    PYOPTIM_SIMD
    for (std::size_t i = 0; i < n; ++i) {
      const T g = in(grad[i]) * s.grad_sign, m_old = m[i], v_old = v[i];
      const T dm = (g - m_old) * s.one_minus_beta1;
      const T dv = (g * g - v_old) * s.one_minus_beta2;
      m[i] = m_old + dm;
      v[i] = v_old + dv;
      param[i] = param[i] + s.neg_step_size * ((dm + m_old) / (std::sqrt(dv + v_old) + s.eps));
    }
  }
};

PYOPTIM_END_NAMESPACE
