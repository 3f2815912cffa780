"""Every organization (and the template) gets the default "Sales" pipeline, whose stages are the old
OpportunityStage values with their old probabilities, and every opportunity is put on the stage of its
`stage` value. Nothing else changes: amounts, probabilities, closed_at, close reasons and the timeline
(STAGE_CHANGE entries name the stage keys, which the stages keep) stay as they were."""

from django.db import migrations

STAGES = (
    # key, name, probability, is_won, is_lost
    ("QUALIFICATION", "Qualification", 10, False, False),
    ("DISCOVERY", "Discovery", 25, False, False),
    ("PROPOSAL", "Proposal", 50, False, False),
    ("NEGOTIATION", "Negotiation", 75, False, False),
    ("CLOSED_WON", "Closed won", 100, True, False),
    ("CLOSED_LOST", "Closed lost", 0, False, True),
)
LOST_REASONS = ("Price", "Chose a competitor", "No budget", "No decision", "Other")


def forwards(apps, schema_editor):
    Pipeline = apps.get_model("opportunities", "Pipeline")
    PipelineStage = apps.get_model("opportunities", "PipelineStage")
    LostReason = apps.get_model("opportunities", "LostReason")
    Opportunity = apps.get_model("opportunities", "Opportunity")
    pipeline = Pipeline.objects.filter(is_default=True).first()
    if pipeline is None:
        pipeline = Pipeline.objects.create(name="Sales", position=0, is_default=True)
    for position, (key, name, probability, is_won, is_lost) in enumerate(STAGES):
        stage, _ = PipelineStage.objects.get_or_create(
            pipeline=pipeline,
            key=key,
            defaults={
                "name": name,
                "position": position,
                "probability": probability,
                "is_won": is_won,
                "is_lost": is_lost,
            },
        )
        Opportunity.objects.filter(pipeline_stage__isnull=True, stage=key).update(
            pipeline=pipeline, pipeline_stage=stage
        )
    for position, name in enumerate(LOST_REASONS):
        LostReason.objects.get_or_create(name=name, defaults={"position": position})
    # a value outside the enum cannot exist (the column had choices), but never leave a deal without a stage
    first = PipelineStage.objects.get(pipeline=pipeline, key="QUALIFICATION")
    Opportunity.objects.filter(pipeline_stage__isnull=True).update(pipeline=pipeline, pipeline_stage=first)


class Migration(migrations.Migration):
    dependencies = [("opportunities", "0007_pipelines")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
