"""``c2al train``: train a C2AL (or baseline) model and export a SavedModel."""
from __future__ import annotations

from c2al_tf.commands.common import add_data_args, add_model_args, add_training_args, model_config_args, read_data, train_config


def register(sub) -> None:
    from c2al_tf.models.builder import ENCODERS
    from c2al_tf.models.config import ModelConfig

    d = ModelConfig()

    p = sub.add_parser("train", help="train a model (auxiliary heads from --cohorts) and export it",
                       description="Train the shared encoder with a primary head and, given --cohorts, one "
                                   "auxiliary head per cohort; export a SavedModel whose serving_default "
                                   "returns the primary probability only.")
    add_data_args(p)
    p.add_argument("--export", required=True, metavar="DIR", help="SavedModel directory to write")
    p.add_argument("--cohorts", metavar="cohorts.json", help="CohortSpec; without it, a baseline model")
    p.add_argument("--model", default="attention_fm", choices=ENCODERS)
    add_training_args(p)
    add_model_args(p)
    p.add_argument("--embedding-dim", type=int, default=d.embedding_dim)
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--verbose-epochs", action="store_true", help="print one line per epoch")
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
    from c2al_tf.models import FeatureSpec, ModelConfig, build_model, distribute, set_seed
    from c2al_tf.models.joint import fit_tables_jointly
    from c2al_tf.models.protocol import carve_validation, fit
    from c2al_tf.models.search import fit_protocol, format_selection
    from c2al_tf.models.training import head_priors

    training = train_config(args)  # bad protocol and model flags fail before any work
    model_kwargs = model_config_args(args)
    from c2al_tf.io_utils import check_output_dir

    check_output_dir(args.export, "--export")  # before any work
    if args.save_training_model:
        from c2al_tf.export import is_own_keras
        from c2al_tf.io_utils import check_output_file

        if not args.save_training_model.endswith(".keras"):
            raise C2ALInputError(f"--save-training-model {args.save_training_model}: the name must end in .keras")
        check_output_file(args.save_training_model, "--save-training-model", ours=is_own_keras)
    cohorts = load_cohorts(args.cohorts, args.label)
    table = read_data(args)
    table.check_trainable()
    print(f"[train] {table.source}: {table.summary()}")
    if cohorts is not None:
        check_cohorts_select(cohorts, table)
        for name, y in aux_labels(table.label, table.features, cohorts.cohorts(), source=cohorts.source).items():
            print(f"[train] auxiliary head {name}: {int(y.sum()):,} positives")
    fit_table, val_table = carve_validation(table, training.validation_fraction, training.validation_seed)
    print(f"[train] {len(fit_table):,} rows to fit, {len(val_table):,} held out for validation")
    spec = FeatureSpec.from_table(table, vocab_budget=training.vocab_budget)
    for f in spec.categorical:
        if f.hash_buckets:
            print(f"[train] {f.name}: more than {training.vocab_budget:,} distinct values, hashed into "
                  f"{f.hash_buckets:,} buckets")
    heads = list(cohorts.cohorts()) if cohorts else []
    verbose = 2 if args.verbose_epochs else 0
    strategy = distribute.make_strategy(training.strategy)
    chief = distribute.is_chief()
    if distribute.num_workers(strategy) > 1:
        print(f"[train] {distribute.num_workers(strategy)} workers ({strategy.num_replicas_in_sync} replicas), "
              f"this is the {'chief' if chief else 'worker'}; global batch {training.batch_size}", flush=True)

    def build(lam):
        set_seed(args.seed)
        config = ModelConfig(model=args.model, aux_weight=lam, embedding_dim=args.embedding_dim,
                             learning_rate=args.learning_rate, **model_kwargs)
        with strategy.scope():
            model = build_model(spec, heads if lam > 0 else [], config,
                                priors=head_priors(heads if lam > 0 else [], fit_table))
            model.compile()
        return model

    def show(lam, r):
        print(f"[train] lambda {lam:g}: validation logloss {r.val_logloss:.5f} (best epoch {r.best_epoch} "
              f"of {r.epochs_run})", flush=True)

    try:
        model, lam, result, selection = fit_protocol(
            build, lambda lam, m: fit(m, fit_table, val_table, training, args.seed, verbose=verbose), training,
            with_heads=bool(heads), on_candidate=show,
            train_many=lambda lams, models: fit_tables_jointly(models, fit_table, val_table, training, args.seed,
                                                               verbose=verbose))
    except distribute.cluster_errors() as e:
        raise C2ALInputError(distribute.lost_worker_message(e)) from None
    for line in format_selection(selection, lam) if selection else []:
        print(f"[train] {line}")
    print(f"[train] kept epoch {result.best_epoch} of {result.epochs_run} (validation logloss "
          f"{result.val_logloss:.5f})")
    metadata = {"seed": args.seed, "data": args.data, "aux_weight": lam, "epochs": result.best_epoch,
                "validation_logloss": result.val_logloss, "selection": selection, "training": training.to_dict(),
                "workers": distribute.num_workers(strategy)}
    if not chief:  # every worker joins the save's collectives; only the chief's copy is kept
        with distribute.discarded_directory() as scratch:
            export_saved_model(model, scratch, extra_metadata=metadata)
        print("[train] worker done; the chief exports the model")
        return 0
    export_saved_model(model, args.export, name="--export", extra_metadata=metadata)
    print(f"[train] exported {args.export} (heads: {', '.join(model.head_names)}; serving_default returns "
          f"the primary probability only)")
    if args.save_training_model:
        from c2al_tf.export import save_training_model

        save_training_model(model, args.save_training_model)
        print(f"[train] saved the training model to {args.save_training_model}")
    return 0
