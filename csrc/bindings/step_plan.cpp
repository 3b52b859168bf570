// StepPlan: a rule bound to a fixed list of NumPy arrays (the NumPy API's
// optimizers): checked once when built; every step re-reads each array's data
// pointer and size (a few loads per array) and refuses to run if one moved.
#include <algorithm>
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
      const std::vector<py::ssize_t> shape(param.shape(), param.shape() + param.ndim());
      const bool shaped = rule.state_shapes != nullptr;
      if (shaped && param.ndim() >= 2 && !(param.flags() & py::array::c_style))
        throw py::value_error("param" + index + ": rule '" + rule.name +
                              "' keeps state along the last two axes and needs C order (use numpy.ascontiguousarray)");
      for (int k = 0; k < rule.n_state; ++k) {
        const std::string what = std::string(rule.state_names[k]) + index;
        py::handle s = parts[2 + k];
        const bool kept = state_kept(rule, k, shape);
        if (s.is_none()) {
          if (shaped) {
            if (kept) incomplete_ = true;  // allowed until a step
          } else {
            has_state_[k] = false;
          }
          continue;
        }
        if (!kept)
          throw py::value_error(what + ": a parameter of " + std::to_string(param.ndim()) + " axes keeps no '" +
                                rule.state_names[k] + "' (pass None)");
        py::array a = checked_array(s, what, true, &other);
        check_partner(param, a, dtype, other, what, "param" + index, state_shape(rule, k, shape));
        add_span(spans, a, true, what);
        state[k] = a.mutable_data();
        keep(a, what);
      }
      const std::size_t n = std::size_t(param.size());
      if (dtype == DType::f32)
        f32_.push_back(make_ref<float>(param, grad, state, n));
      else
        f64_.push_back(make_ref<double>(param, grad, state, n));
      if (shaped && param.ndim() >= 2) {
        auto set_shape = [&](auto& ref) {
          ref.matrix = true;
          ref.rows = std::size_t(shape[shape.size() - 2]);
          ref.cols = std::size_t(shape[shape.size() - 1]);
          ref.batch = 1;
          for (std::size_t d = 0; d + 2 < shape.size(); ++d) ref.batch *= std::size_t(shape[d]);
        };
        if (dtype == DType::f32)
          set_shape(f32_.back());
        else
          set_shape(f64_.back());
      }
    }
    check_no_overlap(std::move(spans));
  }

  void step(py::handle options, std::int64_t step, double grad_scale, double clip_value) {
    const RuleInfo& rule = kRules[rule_];
    double opts[kMaxOptions];
    read_options(rule, options, opts);
    const GradientClip clip = checked_clip(step, grad_scale, clip_value);
    check_states_present(rule, opts, has_state_, size() > 0);
    if (incomplete_)
      throw py::value_error(std::string("tensors: rule '") + rule.name +
                            "' needs every state array its parameter's shape keeps, and some are None");
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

  // `shape`: the shape `a` must have (default: the parameter's).
  static void check_partner(const py::array& param, const py::array& a, DType dtype, DType other,
                            const std::string& what, const std::string& param_what,
                            std::vector<py::ssize_t> shape = {}) {
    if (other != dtype)
      throw py::type_error(what + ": dtype " + std::string(py::str(a.dtype())) + " does not match " +
                           param_what + "'s dtype " + std::string(py::str(param.dtype())));
    const bool like_param = shape.empty() || std::equal(shape.begin(), shape.end(), param.shape(),
                                                        param.shape() + param.ndim());
    if (shape.empty()) shape.assign(param.shape(), param.shape() + param.ndim());
    const bool same_shape = std::size_t(a.ndim()) == shape.size() && std::equal(shape.begin(), shape.end(), a.shape());
    if (!same_shape) {
      std::string expected = "(";
      for (std::size_t d = 0; d < shape.size(); ++d)
        expected += std::to_string(shape[d]) + (d + 1 < shape.size() || shape.size() == 1 ? ", " : "");
      if (shape.size() == 1) expected.resize(expected.size() - 1);
      expected += ")";
      throw py::value_error(what + ": shape " + std::string(py::str(a.attr("shape"))) + " does not match " +
                            (like_param ? param_what + "'s shape " : "the shape its rule keeps for " + param_what + ", ") +
                            expected);
    }
    const int layout = like_param ? (py::array::c_style | py::array::f_style) : int(py::array::c_style);
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
  bool incomplete_ = false;  // a rule with shaped state lacks one (allowed until a step)
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
