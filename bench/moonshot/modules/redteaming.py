"""Moonshot's `redteaming` runner module, written for the benchmarks.

Manual red teaming: as Moonshot's own module does, it sends the prompt to each endpoint of the
session in turn and writes one chat record per answer, each committed on its own. Automated red
teaming: as Moonshot's own module does, it loads each attack strategy's attack module with
Moonshot's `AttackModuleArguments` and awaits its `execute()`, one module after another.
"""

import asyncio
from datetime import datetime
from typing import Any

from moonshot.src.connectors.connector import Connector
from moonshot.src.connectors.connector_prompt_arguments import ConnectorPromptArguments
from moonshot.src.connectors_endpoints.connector_endpoint import ConnectorEndpoint
from moonshot.src.redteaming.attack.attack_module import AttackModule
from moonshot.src.redteaming.attack.attack_module_arguments import AttackModuleArguments
from moonshot.src.redteaming.session.red_teaming_progress import RedTeamingProgress
from moonshot.src.redteaming.session.red_teaming_type import RedTeamingType
from moonshot.src.redteaming.session.session import SessionMetadata
from moonshot.src.runs.run_status import RunStatus
from moonshot.src.storage.db_interface import DBInterface
from moonshot.src.storage.storage import Storage

INSERT_CHAT_RECORD = (
    "INSERT INTO {} (connection_id,context_strategy,prompt_template,attack_module,metric,"
    "prompt,prepared_prompt,system_prompt,predicted_result,duration,prompt_time) "
    "VALUES(?,?,?,?,?,?,?,?,?,?,?)"
)


class RedTeaming:
    async def generate(
        self,
        event_loop: Any,
        runner_args: dict,
        database_instance: DBInterface,
        session_metadata: SessionMetadata,
        red_teaming_type: RedTeamingType,
        red_teaming_progress: RedTeamingProgress,
        cancel_event: asyncio.Event,
    ) -> dict:
        if red_teaming_type == RedTeamingType.AUTOMATED:
            return await self._automated(
                runner_args, database_instance, session_metadata, red_teaming_progress,
                cancel_event,
            )
        if red_teaming_type != RedTeamingType.MANUAL:
            raise RuntimeError("[Bench] Unknown red teaming type.")
        arguments = runner_args.get("manual_rt_args") or {}
        prompt = arguments.get("prompt", "")
        if not prompt:
            raise RuntimeError("[Session] Unable to get prompt for manual red teaming.")
        system_prompt = arguments.get("system_prompt", "")
        for endpoint in session_metadata.endpoints:
            if cancel_event.is_set():
                break
            connector = Connector.create(ConnectorEndpoint.read(endpoint))
            started = datetime.now()
            answered = await Connector.get_prediction(
                ConnectorPromptArguments(prompt_index=0, prompt=prompt, target=""), connector
            )
            record = (
                endpoint, "", "", "", "", prompt, prompt, system_prompt,
                answered.predicted_results.response, str(answered.duration), str(started),
            )
            Storage.create_database_record(
                database_instance, record, INSERT_CHAT_RECORD.format(endpoint.replace("-", "_"))
            )
            red_teaming_progress.update_red_teaming_chats(
                {
                    "conn_id": endpoint, "cs_id": "", "pt_id": "", "am_id": "", "me_id": "",
                    "original_prompt": prompt, "prepared_prompt": prompt,
                    "system_prompt": system_prompt,
                    "response": answered.predicted_results.response,
                    "duration": str(answered.duration), "start_time": str(started),
                },
                RunStatus.COMPLETED,
            )
        return red_teaming_progress.get_dict()

    async def _automated(
        self,
        runner_args: dict,
        database_instance: DBInterface,
        session_metadata: SessionMetadata,
        red_teaming_progress: RedTeamingProgress,
        cancel_event: asyncio.Event,
    ) -> dict:
        for strategy in runner_args.get("attack_strategies") or []:
            arguments = AttackModuleArguments(
                connector_ids=session_metadata.endpoints or [],
                prompt_templates=strategy.get("prompt_template_ids", []),
                prompt=strategy.get("prompt", ""),
                system_prompt=strategy.get("system_prompt", ""),
                metric_ids=strategy.get("metric_ids", []),
                context_strategy_info=strategy.get("context_strategy_info", []),
                db_instance=database_instance,
                chat_batch_size=runner_args.get(
                    "chat_batch_size", RedTeamingProgress.DEFAULT_CHAT_BATCH_SIZE
                ),
                red_teaming_progress=red_teaming_progress,
                cancel_event=cancel_event,
            )
            module = AttackModule.load(strategy.get("attack_module_id"), arguments)
            await module.execute()
        red_teaming_progress.status = RunStatus.COMPLETED
        return {}
