// Stub: only so that LiteRT's CompiledModel.create(AssetManager, ...) declarations compile off Android.
package android.content.res

class AssetManager
