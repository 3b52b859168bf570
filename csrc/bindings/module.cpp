// pybind11 bindings: check buffers, release the GIL, call the kernels.
// Policy (defaults, state, schedules) lives in the Python package.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <pyoptim/nn/softmax_cross_entropy.hpp>

#include "bindings.hpp"

namespace pyoptim {
namespace bindings {
namespace {

template <class T, class Label>
py::tuple cross_entropy_typed(const py::array& logits, const py::array& labels, py::handle grad, std::size_t n,
                              std::size_t k) {
  T* grad_data = nullptr;
  if (!grad.is_none()) grad_data = static_cast<T*>(py::reinterpret_borrow<py::array>(grad).mutable_data());
  const T* z = static_cast<const T*>(logits.data());
  const Label* y = static_cast<const Label*>(labels.data());
  nn::CrossEntropyResult r;
  {
    py::gil_scoped_release release;
    r = nn::softmax_cross_entropy<T, Label>(z, y, n, k, grad_data, T(1) / T(n));
  }
  return py::make_tuple(r.loss_sum / double(n), r.correct);
}

// (mean loss, correct count); writes the gradient of the mean loss into `grad`.
py::tuple softmax_cross_entropy(py::handle logits_obj, py::handle labels_obj, py::handle grad_obj) {
  DType dtype, other;
  py::array logits = checked_array(logits_obj, "logits", false, &dtype);
  if (logits.ndim() != 2 || !(logits.flags() & py::array::c_style) || logits.shape(0) < 1 || logits.shape(1) < 1)
    throw py::value_error("logits: expected a non-empty C-contiguous (n, k) array");
  const std::size_t n = std::size_t(logits.shape(0)), k = std::size_t(logits.shape(1));
  if (!py::isinstance<py::array>(labels_obj))
    throw py::type_error("labels: expected a numpy.ndarray of int64, got " + type_name(labels_obj));
  auto labels = py::reinterpret_borrow<py::array>(labels_obj);
  if (!labels.dtype().equal(py::dtype::of<std::int64_t>()) || labels.ndim() != 1 ||
      std::size_t(labels.shape(0)) != n || !(labels.flags() & py::array::c_style))
    throw py::type_error("labels: expected a contiguous int64 array of shape (" + std::to_string(n) + ",)");
  const std::int64_t* y = static_cast<const std::int64_t*>(labels.data());
  for (std::size_t r = 0; r < n; ++r)
    if (y[r] < 0 || std::size_t(y[r]) >= k)
      throw py::value_error("labels: expected class labels in [0, " + std::to_string(k) + "), got " +
                            std::to_string(y[r]));
  if (!grad_obj.is_none()) {
    py::array grad = checked_array(grad_obj, "grad", true, &other);
    if (other != dtype || grad.ndim() != 2 || grad.shape(0) != logits.shape(0) || grad.shape(1) != logits.shape(1) ||
        !(grad.flags() & py::array::c_style))
      throw py::value_error("grad: expected a C-contiguous array of the logits' shape and dtype");
    if (grad.data() == logits.data()) throw py::value_error("grad: must not be the logits array itself");
  }
  if (dtype == DType::f32) return cross_entropy_typed<float, std::int64_t>(logits, labels, grad_obj, n, k);
  return cross_entropy_typed<double, std::int64_t>(logits, labels, grad_obj, n, k);
}

py::dict simd_info() {
  py::dict info;
  info["active"] = active_kernels().isa;
  py::list compiled, supported;
  for (const KernelTable* t : compiled_kernels()) {
    compiled.append(t->isa);
    if (cpu_supports(t->isa)) supported.append(t->isa);
  }
  info["compiled"] = compiled;
  info["supported"] = supported;
#ifdef _OPENMP
  info["openmp"] = true;
#else
  info["openmp"] = false;
#endif
  return info;
}

}  // namespace
}  // namespace bindings
}  // namespace pyoptim

PYBIND11_MODULE(_core, m) {
  using namespace pyoptim;
  using namespace pyoptim::bindings;
  m.doc() = "pyoptim's compiled kernels. Use the pyoptim package, not this module.";

  py::dict rules;
  for (const RuleInfo& r : kRules) {
    py::dict info;
    info["type"] = r.type;
    info["options"] = interned_names(r.option_names, r.n_options);
    info["state"] = interned_names(r.state_names, r.n_state);
    info["scalars"] = interned_names(r.scalar_names, r.n_scalars);
    info["reductions"] = interned_names(r.reduction_names, r.n_reductions);
    py::list shapes;
    for (int k = 0; k < r.n_state; ++k) shapes.append(state_shape_name(r, k));
    info["state_shapes"] = py::tuple(shapes);
    rules[r.name] = info;
  }
  m.attr("RULES") = rules;
  m.attr("MAX_STATE") = kMaxState;
  py::dict build;
#if defined(__clang__)
  build["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  build["compiler"] = "gcc " __VERSION__;
#elif defined(_MSC_VER)
  build["compiler"] = "msvc " + std::to_string(_MSC_VER);
#endif
#ifdef _OPENMP
  build["openmp"] = _OPENMP;
#else
  build["openmp"] = py::none();
#endif
#ifdef PYOPTIM_SANITIZED
  build["sanitized"] = true;
#else
  build["sanitized"] = false;
#endif
  m.attr("BUILD") = build;

  m.def("initial_scalars", [](const std::string& rule_name, py::handle options) {
        const RuleInfo& rule = kRules[rule_index(rule_name)];
        double opts[kMaxOptions], scalars[kMaxScalars] = {};
        read_options(rule, options, opts);
        rule.initial_scalars(opts, scalars);
        py::tuple out(std::size_t(rule.n_scalars));
        for (int k = 0; k < rule.n_scalars; ++k) out[std::size_t(k)] = py::float_(scalars[k]);
        return out;
      },
      py::arg("rule"), py::arg("options"),
      "The values of the rule's scalar state (RULES[rule]['scalars'] order) before a first step.");
  m.def("states_used", [](const std::string& rule_name, py::handle options) {
        const RuleInfo& rule = kRules[rule_index(rule_name)];
        double opts[kMaxOptions];
        read_options(rule, options, opts);
        py::list used;
        for (int k = 0; k < rule.n_state; ++k) used.append(rule.uses_state(opts, k));
        return py::tuple(used);
      },
      py::arg("rule"), py::arg("options"),
      "For each state array of `rule`, whether `options` make the update use it.");

  bind_step_plan(m);
  bind_torch_plan(m);
  bind_step_rows(m);

  m.def("check_no_overlap",
        [](py::list spans) {
          std::vector<Span> checked;
          for (py::handle item : spans) {
            auto t = item.cast<py::tuple>();
            const auto begin = reinterpret_cast<const char*>(std::uintptr_t(t[0].cast<unsigned long long>()));
            const auto end = reinterpret_cast<const char*>(std::uintptr_t(t[1].cast<unsigned long long>()));
            checked.push_back({begin, end, t[2].cast<bool>(), t[3].cast<std::string>()});
          }
          check_no_overlap(std::move(checked));
        },
        py::arg("spans"),
        "Raises ValueError if a written span of (begin, end, writable, what) byte ranges overlaps another.");
  m.def("softmax_cross_entropy", &softmax_cross_entropy, py::arg("logits"), py::arg("labels"),
        py::arg("grad") = py::none(),
        "(mean softmax cross-entropy, number of correct argmax predictions) of (n, k) logits\n"
        "against int64 labels; writes the mean loss's gradient into `grad` when given.");
  m.def("simd_info", &simd_info, "Which instruction-set build runs, and which are available.");
  m.def("select_simd",
        [](const std::string& limit) {
          try {
            return std::string(select_kernels(limit).isa);
          } catch (const std::invalid_argument&) {
            std::string known;
            for (const KernelTable* t : compiled_kernels()) known += std::string(known.empty() ? "" : ", ") + t->isa;
            throw py::value_error("simd: unknown instruction set '" + limit + "'; expected one of " + known);
          }
        },
        py::arg("limit"),
        "Uses the fastest supported build no faster than `limit` ('' for the fastest); returns its name.");
  m.def("get_min_elements_per_thread", [] { return min_elements_per_thread.load(); });
  m.def("set_min_elements_per_thread", [](std::size_t n) {
        if (n < 1) throw py::value_error("elements: expected an integer >= 1, got " + std::to_string(n));
        min_elements_per_thread.store(n);
      },
      py::arg("elements"),
      "Elements per thread below which a step runs on fewer threads (default 65536; for benchmarks).");
  m.def("get_flush_denormal", [] { return flush_denormal.load(); });
  m.def("set_flush_denormal", [](bool on) { flush_denormal.store(on); }, py::arg("enabled"));
  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
        if (n < 1) throw py::value_error("threads: expected an integer >= 1, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("threads"));
}
