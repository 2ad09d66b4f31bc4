// Stub of tflite::ops::builtin::BuiltinOpResolver (tensorflow/lite/kernels/register.h).
#pragma once
#include "tensorflow/lite/model.h"
namespace tflite { namespace ops { namespace builtin {
class BuiltinOpResolver : public OpResolver {};
}}}  // namespace tflite::ops::builtin
