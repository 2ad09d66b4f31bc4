// Declarations of LiteRT's Kotlin CompiledModel API (com.google.ai.edge.litert), for compile checks
// of `litesig codegen --api compiled-model` without Android. Bodies are stubs: nothing here runs.
//
// Copied from github.com/google-ai-edge/LiteRT, litert/kotlin/src/main/kotlin/com/google/ai/edge/litert/:
//   Model.kt         at commit b057fa3c3327eba42cda915be799f097af18f6fa (TensorType, Model, CompiledModel)
//   TensorBuffer.kt  at commit 53d158179d0f22c67041cf67aad672e2e41acc8d (TensorBuffer, TensorBufferRequirements)
//   Common.kt        at commit 4312fd6509bbe120ac21b3f7b650c42aea657415 (Accelerator, JniHandle)
//   LiteRtException.kt at commit 173ea62ee641da11a3b111cdaab4cb565bf309ac (LiteRtException; Status abridged)
//   Environment.kt   at commit 23dd4f7d240f24b8015c27e207305e2188e44fa7 (create(options) only)
// Public signatures kept as written; changed only so Debian's kotlinc 1.3 accepts them: trailing commas
// removed, bodies replaced by `throw UnsupportedOperationException()`, native/private members, GpuOptions,
// TensorBufferType's values and the Context/NpuAcceleratorProvider overloads of Environment.create left out.
// Apache License 2.0, Copyright 2025 Google LLC.
@file:Suppress("UNUSED_PARAMETER")

package com.google.ai.edge.litert

import android.content.res.AssetManager

private fun stub(): Nothing = throw UnsupportedOperationException("compile-check stub of LiteRT")

/** Hardware accelerators supported by LiteRT. */
enum class Accelerator private constructor(val value: Int) {
  NONE(0),
  CPU(1),
  GPU(2),
  NPU(3);
}

/** A base class for all Kotlin types that wrap a JNI handle. */
abstract class JniHandle internal constructor(internal val handle: Long) : AutoCloseable {
  protected fun assertNotDestroyed() {}

  protected abstract fun destroy()

  override final fun close() {}
}

/** Exception for various LiteRT API errors. */
class LiteRtException(private val status: Status, message: String) : Exception(message) {
  constructor(code: Int, message: String) : this(Status.Ok, message)
}

/** Status codes for LiteRtException (abridged). */
enum class Status(val code: Int) {
  Ok(0),
  ErrorInvalidArgument(1),
  ErrorRuntimeFailure(3),
  ErrorNotFound(6);
}

/** Environment to hold configuration options for LiteRT runtime. */
class Environment private constructor(handle: Long) : JniHandle(handle) {
  enum class Option private constructor(val value: Int) {
    CompilerPluginLibraryDir(0),
    DispatchLibraryDir(1);
  }

  override protected fun destroy() {}

  @Throws(LiteRtException::class)
  fun getAvailableAccelerators(): Set<Accelerator> = stub()

  companion object {
    @Throws(LiteRtException::class)
    @JvmOverloads
    @JvmStatic
    fun create(options: Map<Option, String> = mapOf()): Environment = stub()
  }
}

/** The type of a tensor, including its element type and layout. */
data class TensorType
@JvmOverloads
constructor(val elementType: ElementType, val layout: Layout? = null) {

  enum class ElementType {
    INT,
    FLOAT,
    INT8,
    BOOLEAN,
    INT64
  }

  data class Layout
  @JvmOverloads
  constructor(val dimensions: List<Int>, val strides: List<Int> = listOf()) {
    val rank: Int
      get() = dimensions.size

    val hasStrides: Boolean
      get() = strides.isNotEmpty()
  }
}

/** Model represents a LiteRT model file. */
class Model private constructor(handle: Long) : JniHandle(handle) {

  protected override fun destroy() {}

  fun getInputTensorType(inputName: String, signature: String? = null): TensorType = stub()

  fun getOutputTensorType(outputName: String, signature: String? = null): TensorType = stub()

  companion object {
    @Throws(LiteRtException::class)
    @JvmStatic
    fun load(assetManager: AssetManager, assetName: String): Model = stub()

    @Throws(LiteRtException::class)
    @JvmStatic
    fun load(filePath: String): Model = stub()
  }
}

/** Class that represents a compiled LiteRT model. */
class CompiledModel
private constructor(
  handle: Long,
  private val model: Model,
  private val env: Environment,
  private val modelManaged: Boolean = false,
  private val envManaged: Boolean = false
) : JniHandle(handle) {

  /** Options to specify CPU acceleration for compiling a model. */
  data class CpuOptions
  constructor(
    val numThreads: Int? = null,
    val xnnPackFlags: Int? = null,
    val xnnPackWeightCachePath: String? = null
  )

  /** Options to specify hardware acceleration for compiling a model. */
  class Options constructor(internal val accelerators: Set<Accelerator>) {

    constructor(vararg accelerators: Accelerator) : this(setOf(*accelerators)) {}

    var cpuOptions: CpuOptions? = null

    companion object {
      @JvmStatic val CPU = Options(Accelerator.CPU)
    }
  }

  @Throws(LiteRtException::class)
  fun createInputBuffer(inputName: String, signature: String? = null): TensorBuffer = stub()

  @Throws(LiteRtException::class)
  fun getInputBufferRequirements(inputName: String, signature: String? = null): TensorBufferRequirements = stub()

  @Throws(LiteRtException::class)
  fun createOutputBuffer(outputName: String, signature: String? = null): TensorBuffer = stub()

  @Throws(LiteRtException::class)
  fun getOutputBufferRequirements(outputName: String, signature: String? = null): TensorBufferRequirements = stub()

  @Throws(LiteRtException::class)
  @JvmOverloads
  fun createInputBuffers(signatureIndex: Int = 0): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  fun createInputBuffers(signature: String): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  @JvmOverloads
  fun createOutputBuffers(signatureIndex: Int = 0): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  fun createOutputBuffers(signature: String): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  @JvmOverloads
  fun run(inputs: List<TensorBuffer>, signatureIndex: Int = 0): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  fun run(inputs: List<TensorBuffer>, signature: String): List<TensorBuffer> = stub()

  @Throws(LiteRtException::class)
  @JvmOverloads
  fun run(inputs: List<TensorBuffer>, outputs: List<TensorBuffer>, signatureIndex: Int = 0) {}

  @Throws(LiteRtException::class)
  fun run(inputs: List<TensorBuffer>, outputs: List<TensorBuffer>, signature: String) {}

  @Throws(LiteRtException::class)
  fun run(
    inputs: Map<String, TensorBuffer>,
    outputs: Map<String, TensorBuffer>,
    signature: String? = null
  ) {}

  protected override fun destroy() {}

  companion object {
    @Throws(LiteRtException::class)
    @JvmOverloads
    @JvmStatic
    fun create(model: Model, options: Options = Options.CPU, optionalEnv: Environment? = null): CompiledModel = stub()

    @Throws(LiteRtException::class)
    @JvmOverloads
    @JvmStatic
    fun create(
      assetManager: AssetManager,
      assetName: String,
      options: Options = Options.CPU,
      optionalEnv: Environment? = null
    ): CompiledModel = stub()

    @Throws(LiteRtException::class)
    @JvmOverloads
    @JvmStatic
    fun create(filePath: String, options: Options = Options.CPU, optionalEnv: Environment? = null): CompiledModel = stub()
  }
}

/** TensorBuffer represents the raw memory where tensor data is stored. */
class TensorBuffer internal constructor(handle: Long) : JniHandle(handle) {
  @Throws(LiteRtException::class)
  fun writeInt(data: IntArray) {}

  @Throws(LiteRtException::class)
  fun writeFloat(data: FloatArray) {}

  @Throws(LiteRtException::class)
  fun writeInt8(data: ByteArray) {}

  @Throws(LiteRtException::class)
  fun writeBoolean(data: BooleanArray) {}

  @Throws(LiteRtException::class)
  fun writeLong(data: LongArray) {}

  @Throws(LiteRtException::class)
  fun readInt(): IntArray = stub()

  @Throws(LiteRtException::class)
  fun readFloat(): FloatArray = stub()

  @Throws(LiteRtException::class)
  fun readInt8(): ByteArray = stub()

  @Throws(LiteRtException::class)
  fun readBoolean(): BooleanArray = stub()

  @Throws(LiteRtException::class)
  fun readLong(): LongArray = stub()

  protected override fun destroy() {}
}

/** Requirements for allocating a TensorBuffer. */
data class TensorBufferRequirements
constructor(
  val supportedTypes: List<Int>,
  val bufferSize: Int,
  val strides: List<Int>
)
