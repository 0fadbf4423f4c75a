import FileSupport
import ArgumentParser
import Foundation
import Inference
import Models
import Training

/// `swiftgpt lora …`: work with LoRA adapters.
struct LoRACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora", abstract: "Work with LoRA adapters (PEFT format).", subcommands: [Merge.self])

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Merge a PEFT LoRA adapter into its base model and write a plain HF GPT-2 folder.",
      discussion: "W += (alpha/r)·(B·A)ᵀ for every adapted Conv1D weight, as PEFT's merge_and_unload.")

    @Option(help: "Base model folder (HF GPT-2 or SwiftGPT).") var checkpoint: String
    @Option(help: "Adapter folder (adapter_config.json + adapter_model.safetensors; default: the checkpoint's adapter/).")
    var adapter: String?
    @Option(help: "Output folder.") var out: String
    @Flag(help: "Replace OUT if it exists.") var overwrite = false

    func run() throws {
      let out = normalizedPath(self.out)
      let source = ModelDirectory(checkpoint)
      try requireFolder(source.path, holding: "a model")
      guard let adapter = adapter ?? source.adapterFolder else {
        throw CLIError("\(source.path) has no adapter/ folder: give --adapter, the folder holding adapter_config.json")
      }
      // Keep what makes the folder usable: tokenizer, meta.json, instruction markers; not the
      // base's weights (a single file or shards with their index) or optimizer state.
      let copied = ((try? FileManager.default.contentsOfDirectory(atPath: source.path)) ?? []).filter { name in
        !(name == "config.json" || name == "optimizer.safetensors" || name == FolderLock.fileName
          || name.hasPrefix("model") && (name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json")))
      }
      let lock = try claimOutputFolder(out, overwrite: overwrite) { isModelFolderEntry($0) || copied.contains($0) }
      var succeeded = false
      defer { lock.release(succeeded: succeeded) }
      let model = try source.loadGPT()
      let lora = try LoRAAdapter(peftFolder: adapter, for: model)
      lora.merge(into: model)
      try writeFolderAtomically(out, replaceable: { isModelFolderEntry($0) || copied.contains($0) }) { folder in
        try model.save(huggingFaceFolder: folder)
        for name in copied {
          if let data = FileManager.default.contents(atPath: source.path + "/" + name) {
            try writeAtomically(data, to: folder + "/" + name)
          }
        }
      }
      succeeded = true
      Terminal.error("merged \(lora.parameterCount) adapter parameters into \(out)")
    }
  }
}
