"""``c2al train``: train a C2AL (or baseline) model and export a SavedModel."""
from __future__ import annotations

from c2al_tf.commands.common import add_data_args, read_data


def register(sub) -> None:
    from c2al_tf.models.builder import DEFAULT_AUX_WEIGHT, ENCODERS

    p = sub.add_parser("train", help="train a model (auxiliary heads from --cohorts) and export it",
                       description="Train the shared encoder with a primary head and, given --cohorts, one "
                                   "auxiliary head per cohort; export a SavedModel whose serving_default "
                                   "returns the primary probability only.")
    add_data_args(p)
    p.add_argument("--export", required=True, metavar="DIR", help="SavedModel directory to write")
    p.add_argument("--cohorts", metavar="cohorts.json", help="CohortSpec; without it, a baseline model")
    p.add_argument("--model", default="attention_fm", choices=ENCODERS)
    p.add_argument("--aux-weight", type=float, default=DEFAULT_AUX_WEIGHT, metavar="W",
                   help=f"lambda for every auxiliary head (default {DEFAULT_AUX_WEIGHT})")
    p.add_argument("--epochs", type=int, default=2, metavar="E")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--embedding-dim", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--save-training-model", metavar="PATH.keras",
                   help="also save the multi-head training model (aux heads, lambdas, optimizer state) as .keras, "
                        "to load with tf.keras.models.load_model and continue training")
    p.set_defaults(func=run)


def load_cohorts(path, label):
    from c2al_tf.cohorts import CohortSpec
    from c2al_tf.errors import C2ALInputError

    if not path:
        return None
    spec = CohortSpec.load(path)
    if spec.label != label:
        raise C2ALInputError(f"{path}: field 'label' is '{spec.label}' but --label is '{label}'")
    return spec


def check_cohorts_select(cohorts, table) -> None:
    """Refuses a cohort that selects no row, or no positive, of the training data:
    its auxiliary head would learn an all-zero target ("predict zero")."""
    from c2al_tf.errors import C2ALInputError

    masks = cohorts.masks(table.features)
    for cohort in cohorts.cohorts():
        mask = masks[cohort["name"]]
        rows, positives = int(mask.sum()), int(table.label[mask].sum())
        if rows == 0 or positives == 0:
            what = "no row" if rows == 0 else f"{rows:,} rows but no positive"
            raise C2ALInputError(
                f"{cohorts.source}: cohort '{cohort['name']}' selects {what} of {table.source}; its auxiliary "
                f"head would learn to predict zero. Mine cohorts on this data (c2al mine) or fix the predicate")


def run(args) -> int:
    from c2al_tf.errors import C2ALInputError
    from c2al_tf.export import export_saved_model
    from c2al_tf.labels import aux_labels
    from c2al_tf.models import FeatureSpec, ModelConfig, build_model, set_seed, train
    from c2al_tf.models.training import head_priors

    if args.epochs < 1:
        raise C2ALInputError(f"--epochs must be >= 1, got {args.epochs}")
    if args.aux_weight < 0:
        raise C2ALInputError(f"--aux-weight must be >= 0, got {args.aux_weight}")
    from c2al_tf.io_utils import check_output_dir

    check_output_dir(args.export, "--export")  # before any work
    if args.save_training_model:
        from c2al_tf.io_utils import check_output_file

        if not args.save_training_model.endswith(".keras"):
            raise C2ALInputError(f"--save-training-model {args.save_training_model}: the name must end in .keras")
        check_output_file(args.save_training_model, "--save-training-model")
    cohorts = load_cohorts(args.cohorts, args.label)
    table = read_data(args)
    print(f"[train] {table.source}: {table.summary()}")
    if cohorts is not None:
        check_cohorts_select(cohorts, table)
        for name, y in aux_labels(table.label, table.features, cohorts.cohorts(), source=cohorts.source).items():
            print(f"[train] auxiliary head {name}: {int(y.sum()):,} positives")
    set_seed(args.seed)
    spec = FeatureSpec.from_table(table)
    config = ModelConfig(model=args.model, aux_weight=args.aux_weight, embedding_dim=args.embedding_dim,
                         learning_rate=args.learning_rate)
    model = build_model(spec, cohorts, config,
                        priors=head_priors(list(cohorts.cohorts()) if cohorts else [], table))
    train(model, table, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
    export_saved_model(model, args.export, extra_metadata={"seed": args.seed, "data": args.data}, flag="--export")
    print(f"[train] exported {args.export} (heads: {', '.join(model.head_names)}; serving_default returns "
          f"the primary probability only)")
    if args.save_training_model:
        from c2al_tf.export import save_training_model

        save_training_model(model, args.save_training_model)
        print(f"[train] saved the training model to {args.save_training_model}")
    return 0
