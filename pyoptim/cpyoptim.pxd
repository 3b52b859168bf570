# cython: language_level=3
# Declarations of pyoptim's C++ kernels for other Cython extensions:
#
#     from pyoptim.cpyoptim cimport Adam, step_one
#     with nogil:
#         step_one[Adam, float](options, step, param, grad, state, n, threads)
#
# Compile with language="c++", -std=c++17 and include_dirs=[pyoptim.get_include()].
# `options` holds the rule's options in the order of pyoptim._core.RULES[rule]["options"];
# `state` points to the rule's state arrays in the order of RULES[rule]["state"]
# (NULL where unused). A rule with scalar state (NAdam's mu_product: RULES[rule]["scalars"]
# gives the names and initial values) takes it in `scalars`, advanced in place by the step.
# The kernels allocate nothing and take no lock.

from libc.stdint cimport int64_t

cdef extern from "pyoptim/pyoptim.hpp" namespace "pyoptim" nogil:
    cdef cppclass SGD:
        pass
    cdef cppclass Adam:
        pass
    cdef cppclass Adagrad:
        pass
    cdef cppclass RMSprop:
        pass
    cdef cppclass Adadelta:
        pass
    cdef cppclass NAdam:
        pass
    cdef cppclass RAdam:
        pass
    cdef cppclass Adamax:
        pass
    cdef cppclass Lion:
        pass

    void step_one[R, T](const double* options, int64_t step, T* param, const T* grad, T** state,
                        size_t n, int threads)
    void step_one[R, T](const double* options, int64_t step, T* param, const T* grad, T** state,
                        size_t n, int threads, double* scalars)
