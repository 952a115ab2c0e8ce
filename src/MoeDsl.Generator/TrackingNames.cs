namespace MoeDsl.Generator
{
    /// <summary>Names of the tracked pipeline steps (tests assert their run reasons).</summary>
    public static class TrackingNames
    {
        /// <summary>Classes with [MoeModel] parsed into <c>ParsedDeclaration</c>s.</summary>
        public const string Parse = "MoeDsl.Parse";
        /// <summary>The referenced runtime's router types.</summary>
        public const string Runtime = "MoeDsl.Runtime";
        /// <summary>AdditionalFiles that may be config.json files.</summary>
        public const string ConfigFiles = "MoeDsl.ConfigFiles";
        /// <summary>Validation results (model + diagnostics).</summary>
        public const string Validate = "MoeDsl.Validate";
        /// <summary>The model to emit (null when invalid).</summary>
        public const string Model = "MoeDsl.Model";
        /// <summary>The diagnostics to report.</summary>
        public const string Diagnostics = "MoeDsl.Diagnostics";
    }
}
