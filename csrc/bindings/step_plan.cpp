// StepPlan: a rule bound to a fixed list of NumPy arrays (the NumPy API's
// optimizers): checked once when built; every step re-reads each array's data
// pointer and size (a few loads per array) and refuses to run if one moved.
#include <cmath>
#include <limits>

#include "bindings.hpp"

namespace pyoptim {
namespace bindings {
namespace {

class StepPlan {
 public:
  StepPlan(const std::string& rule_name, py::sequence tensors) : rule_(rule_index(rule_name)) {
    const RuleInfo& rule = kRules[rule_];
    std::vector<Span> spans;
    for (int k = 0; k < rule.n_state; ++k) has_state_[k] = true;
    const std::size_t count = tensors.size();
    for (std::size_t t = 0; t < count; ++t) {
      const std::string index = "[" + std::to_string(t) + "]";
      py::handle item = tensors[t];
      if (!py::isinstance<py::tuple>(item) || py::len(item) != std::size_t(2 + rule.n_state))
        throw py::type_error("tensors" + index + ": expected a tuple (param, grad, " +
                             std::to_string(rule.n_state) + " state arrays or None)");
      auto parts = py::reinterpret_borrow<py::tuple>(item);
      DType dtype, other;
      py::array param = checked_array(parts[0], "param" + index, true, &dtype);
      py::array grad = checked_array(parts[1], "grad" + index, false, &other);
      check_partner(param, grad, dtype, other, "grad" + index, "param" + index);
      add_span(spans, param, true, "param" + index);
      add_span(spans, grad, false, "grad" + index);
      keep(param, "param" + index);
      keep(grad, "grad" + index);
      void* state[kMaxState] = {};
      for (int k = 0; k < rule.n_state; ++k) {
        const std::string what = std::string(rule.state_names[k]) + index;
        py::handle s = parts[2 + k];
        if (s.is_none()) {
          has_state_[k] = false;
          continue;
        }
        py::array a = checked_array(s, what, true, &other);
        check_partner(param, a, dtype, other, what, "param" + index);
        add_span(spans, a, true, what);
        state[k] = a.mutable_data();
        keep(a, what);
      }
      const std::size_t n = std::size_t(param.size());
      if (dtype == DType::f32)
        f32_.push_back(make_ref<float>(param, grad, state, n));
      else
        f64_.push_back(make_ref<double>(param, grad, state, n));
    }
    check_no_overlap(std::move(spans));
  }

  void step(py::handle options, std::int64_t step, double grad_scale, double clip_value) {
    const RuleInfo& rule = kRules[rule_];
    double opts[kMaxOptions];
    read_options(rule, options, opts);
    const GradientClip clip = checked_clip(step, grad_scale, clip_value);
    check_states_present(rule, opts, has_state_, size() > 0);
    check_unmoved();
    Exclusive running(busy_);
    double kept[kMaxScalars] = {scalars_[0], scalars_[1]};
    with_scalars(rule, opts, step, kept, /*advance_in_float=*/false, [&](const double* used) { run_rule(rule_, opts, step, f32_, f64_, clip, used); });
    for (int k = 0; k < rule.n_scalars; ++k) scalars_[k] = kept[k];
  }

  // The rule's scalar state after the last step (zeros until set: the optimizer
  // sets the values before a first step, which may depend on the options).
  py::tuple scalars() const {
    const RuleInfo& rule = kRules[rule_];
    py::tuple out(std::size_t(rule.n_scalars));
    for (int k = 0; k < rule.n_scalars; ++k) out[std::size_t(k)] = py::float_(scalars_[k]);
    return out;
  }
  void set_scalars(py::sequence values) {
    const RuleInfo& rule = kRules[rule_];
    if (int(values.size()) != rule.n_scalars)
      throw py::value_error("scalars: rule '" + std::string(rule.name) + "' keeps " +
                            std::to_string(rule.n_scalars) + " scalars, got " + std::to_string(values.size()));
    double next[kMaxScalars] = {};
    for (int k = 0; k < rule.n_scalars; ++k) {
      const double x = PyFloat_AsDouble(values[std::size_t(k)].ptr());
      if (x == -1.0 && PyErr_Occurred()) throw py::error_already_set();
      if (!std::isfinite(x))
        throw py::value_error(std::string("scalars: ") + rule.scalar_names[k] + " must be finite, got " +
                              std::to_string(x));
      next[k] = x;
    }
    for (int k = 0; k < rule.n_scalars; ++k) scalars_[k] = next[k];
  }

  // (sum of squares of every gradient element, whether all are finite), by a
  // reduction whose bits do not depend on the thread count.
  py::tuple gradient_squares() {
    check_unmoved();
    Exclusive running(busy_);
    return squares_of(f32_, f64_, partials_);
  }

  std::size_t size() const { return f32_.size() + f64_.size(); }

  // Raises ValueError if an array moved since the plan was built (see check_unmoved).
  void check() const { check_unmoved(); }

 private:
  // An array as it was when the plan was built: a resize or a reallocation
  // (ndarray.resize, refcheck=False) would leave the plan pointing at freed memory.
  struct Kept {
    py::array array;
    const void* data;
    py::ssize_t size;
    std::string what;
  };

  void keep(const py::array& a, const std::string& what) { kept_.push_back({a, a.data(), a.size(), what}); }

  void check_unmoved() const {
    for (const Kept& k : kept_)
      if (k.array.data() != k.data || k.array.size() != k.size)
        throw py::value_error(k.what + ": the array was resized or reallocated after the optimizer took it "
                              "(its data pointer or size changed); register the new array instead");
  }

  static void check_partner(const py::array& param, const py::array& a, DType dtype, DType other,
                            const std::string& what, const std::string& param_what) {
    if (other != dtype)
      throw py::type_error(what + ": dtype " + std::string(py::str(a.dtype())) + " does not match " +
                           param_what + "'s dtype " + std::string(py::str(param.dtype())));
    bool same_shape = a.ndim() == param.ndim();
    for (py::ssize_t d = 0; same_shape && d < a.ndim(); ++d) same_shape = a.shape(d) == param.shape(d);
    if (!same_shape)
      throw py::value_error(what + ": shape " + std::string(py::str(a.attr("shape"))) + " does not match " +
                            param_what + "'s shape " + std::string(py::str(param.attr("shape"))));
    const int layout = py::array::c_style | py::array::f_style;
    const bool same_layout = (a.flags() & param.flags() & layout) != 0;
    if (!same_layout)
      throw py::value_error(what + ": memory order (C or Fortran) does not match " + param_what + "'s");
  }

  static void add_span(std::vector<Span>& spans, const py::array& a, bool writable, const std::string& what) {
    const char* begin = static_cast<const char*>(a.data());
    spans.push_back({begin, begin + a.nbytes(), writable, what});
  }

  template <class T>
  static TensorRef<T> make_ref(py::array& param, py::array& grad, void* const* state, std::size_t n) {
    TensorRef<T> ref{};
    ref.param = static_cast<T*>(param.mutable_data());
    ref.grad = static_cast<const T*>(grad.data());
    for (int k = 0; k < kMaxState; ++k) ref.state[k] = static_cast<T*>(state[k]);
    ref.size = n;
    return ref;
  }

  int rule_;
  bool has_state_[kMaxState] = {};
  std::vector<Kept> kept_;
  std::vector<TensorRef<float>> f32_;
  std::vector<TensorRef<double>> f64_;
  std::vector<double> partials_;  // scratch of the norm reduction
  double scalars_[kMaxScalars] = {};  // the rule's scalar state (one set for the plan's tensors)
  std::atomic<bool> busy_{false};
};

}  // namespace

void bind_step_plan(py::module_& m) {
  py::class_<StepPlan>(m, "StepPlan",
                       "An update rule bound to a list of (param, grad, *state) NumPy arrays, checked once.")
      .def(py::init<const std::string&, py::sequence>(), py::arg("rule"), py::arg("tensors"))
      .def("step", &StepPlan::step, py::arg("options"), py::arg("step"), py::arg("grad_scale") = 1.0,
           py::arg("clip_value") = std::numeric_limits<double>::infinity(),
           "Updates every tensor in place, reading each gradient element as\n"
           "clamp(grad * grad_scale, -clip_value, clip_value); releases the GIL.")
      .def("gradient_squares", &StepPlan::gradient_squares,
           "(sum of squared gradient elements, all finite?), independent of the thread count.")
      .def_property("scalars", &StepPlan::scalars, &StepPlan::set_scalars,
                    "The rule's scalar state (RULES[rule]['scalars'] order), advanced by each step.")
      .def("check", &StepPlan::check, "Raises ValueError if an array was resized or reallocated since.")
      .def("__len__", &StepPlan::size);
}

}  // namespace bindings
}  // namespace pyoptim
